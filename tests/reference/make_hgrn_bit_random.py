#!/usr/bin/python3
"""Write a random tiny HGRNBit (MatMul-free LM) Hugging Face folder plus golden logits.

Output folder (created if needed):
  config.json                    HGRNBitConfig fields, as upstream's save_pretrained writes them
  model.safetensors              15L+5 tensors (15L+4 with --tie-embeddings), F32 or BF16
  ids.txt                        one random id sequence: BOS=1, then ids from [3, vocab)
                                 (the first id is random too if draw >= max_draws/2)
  reference_logits.safetensors   key seq0: F32 [T, vocab] from hgrn_bit_ref.py

Meant for C++ tests that build fixtures under a temp dir at test time (nothing here
is committed). Weights follow shared/data/models/mmfree-tiny-random/README.md so no
parameter is trivial: embeddings N(0,1), every norm weight 1 + 0.1 N(0,1),
lower_bounds N(0, 0.5), matrices xavier-uniform.

--ties plants exact rounding ties, so that an engine with the wrong rounding mode
fails (spec N1): activations in layer 0 (i_proj and f_proj of token 3) hit exact
k+0.5 code values with k even (ties away from zero and ties to even differ there),
and every ternary weight matrix has entries with W*s_w = +-0.5 exactly (to even -> 0,
away -> +-1). The summary reports how far the logits move under the wrong mode.

Golden robustness: a random draw can put an int8 rounding within a few ulps of a .5
boundary, where a correct engine that merely sums in another order may round the
other way. The id sequence is redrawn (deterministically from --seed) until no
such near tie (< --min-tie-ulps) remains, up to --max-draws; the summary says how
many near ties the chosen draw still has.

Prints one JSON summary line. Run with /usr/bin/python3.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.dont_write_bytecode = True   # no __pycache__ in the source tree when tests run this
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hgrn_bit_ref as ref  # noqa: E402

TIE_TOKEN = 3   # the embedding row with planted activation ties


# ----------------------------------------------------------------------------- dtype helpers

def to_dtype(x, dtype):
    """Round an fp32 array to the storage dtype; returns float64 values (exact)."""
    x = np.asarray(x, dtype=np.float32)
    if dtype == "bf16":
        x = ref._bf16_bits_to_f32(ref.f32_to_bf16_bits(x))
    return x.astype(np.float64)


def trunc_bits(x, bits):
    """x (float64 >= 0) truncated toward zero to `bits` significant bits (exact)."""
    if x == 0:
        return 0.0
    mant, e = math.frexp(x)
    return math.floor(mant * 2 ** bits) / 2 ** bits * 2.0 ** e


def storage(arr64, dtype):
    a32 = np.asarray(arr64, dtype=np.float32)
    if dtype == "bf16":
        bits = ref.f32_to_bf16_bits(a32)
        assert np.array_equal(ref._bf16_bits_to_f32(bits), a32), "value not representable in bf16"
        return bits
    return a32


# ----------------------------------------------------------------------------- tie planting

def plant_weight_ties(W, rng, dtype, n_ties=4):
    """Make mean|W| an exact power of two m (so s_w = 1/m and W*s_w are exact in fp32) and
    set n_ties entries to +-m/2, i.e. W*s_w = +-0.5 exactly.

    Exactness needs sum|W| == n*m with no rounding in any summation order: every entry
    is put on a grid q with n*m < 2^24 q, so all partial sums are exact even in fp32
    (the spec's float64 sum, torch's fp32 mean and any SIMD order agree). The sum is
    then corrected by overwriting a few non-tie entries with representable grid values."""
    bits = 8 if dtype == "bf16" else 24
    n = W.size
    mean = np.abs(W).mean()
    m = 2.0 ** round(math.log2(mean))
    W = W * (m / mean)
    total = n * m
    q = 2.0 ** (math.floor(math.log2(total)) - 23)
    assert m / 2 >= q, "matrix too large for exact tie planting"
    flat = to_dtype(W.ravel(), dtype)
    flat = np.round(flat / q) * q           # fewer significant bits: still representable
    perm = rng.permutation(n)
    ties, rest = perm[:n_ties], list(perm[n_ties:])
    flat[ties] = m / 2 * rng.choice([-1.0, 1.0], size=n_ties)
    # Fix-up set: enough entries that the correction R is positive and about m per entry
    # (dtype/grid rounding leaves sum|W| a little off n*m, in either direction).
    fix, k_fix = [], 8
    R = total - np.abs(flat).sum()          # exact (grid, < 2^53 q)
    while len(fix) < k_fix + 4 or R < 4 * m or R > 1.5 * m * (len(fix) - 4):
        idx = rest.pop()
        fix.append(idx)
        R += abs(flat[idx])
    k_fix = len(fix) - 4                    # the last 4: room for remainder chunks (<= 3)
    vals = []
    for j in range(k_fix - 1):              # spread R over the fix-up entries (~m each)
        p = math.floor(trunc_bits(R / (k_fix - j), bits) / q) * q
        vals.append(p)
        R -= p
    while R != 0:                           # the remainder, in representable grid chunks
        p = trunc_bits(R, bits)
        vals.append(p)
        R -= p
    assert len(vals) <= len(fix)
    vals += [0.0] * (len(fix) - len(vals))  # unused reserve entries become 0
    for idx, p in zip(fix, vals):
        assert abs(p / m - 0.5) > 1e-3, "fix-up value landed near a tie"
        flat[idx] = p * rng.choice([-1.0, 1.0])
    assert np.abs(flat).sum() == total and np.abs(flat).sum() / n == m
    return flat.reshape(W.shape)


def four_squares(R, cap):
    """Some cap >= a >= b >= c >= d >= 0 with a^2+b^2+c^2+d^2 == R (Lagrange), or None."""
    for a in range(min(cap, math.isqrt(R)), -1, -1):
        r1 = R - a * a
        for b in range(min(a, math.isqrt(r1)), -1, -1):
            r2 = r1 - b * b
            for c in range(min(b, math.isqrt(r2)), -1, -1):
                d2 = r2 - c * c
                d = math.isqrt(d2)
                if d * d == d2 and d <= c:
                    return [a, b, c, d]
    return None


def tie_embedding_row(H, rng):
    """An integer embedding row x with mean(x^2) = 4^k exactly, max|x| = 254, and
    entries +-1, +-5, +-9, +-13.

    With layer 0's attn_norm weight = 16 the block RMSNorm gives n = x * 2^(4-k) and
    mean(n^2) = 256, so the BitLinear's inner RMSNorm has r = 1/16 exactly (eps 1e-6
    vanishes against 256 and 4^k >= 1024 in fp32). With inner norm weight w = 2^j
    (i_proj: 1, f_proj: 2): u = x * 2^(j-k), s_a = 127 / (254 * 2^(j-k)) = 2^(k-j-1)
    exactly, so z = u * s_a = x / 2: the odd entries land on 0.5, 2.5, 4.5, 6.5 (and
    their negatives), exact ties where away-from-zero and to-even disagree. All
    integer sums stay below 2^24, exact in any order; all values are exact in bf16."""
    k = 5
    while H * 4 ** k < 2 * 254 ** 2:
        k += 1
    target = H * 4 ** k
    assert target < 2 ** 24
    x = np.zeros(H, dtype=np.int64)
    perm = list(rng.permutation(H))
    x[perm.pop()] = 254 * rng.choice([-1, 1])
    for v in (1, -1, 5, -5, 9, -9, 13, -13)[:max(0, H - 6)]:
        x[perm.pop()] = v
    reserve = [perm.pop() for _ in range(4)]
    free = perm
    rest = target - int((x * x).sum())
    for _ in range(1000):                    # even integers: no accidental ties there
        sigma = math.sqrt(max(0, rest - 2 * 150 ** 2) / max(1, len(free)))   # leave ~2*150^2
        vals = 2 * np.round(rng.normal(0, sigma / 2, size=len(free))).astype(np.int64)
        vals = np.clip(vals, -200, 200)
        R = rest - int((vals * vals).sum())
        sq = four_squares(R, 253) if 0 <= R <= 4 * 253 ** 2 else None
        if sq is not None:
            break
    else:
        raise AssertionError("could not complete the tie embedding row")
    x[free] = vals
    for idx, v in zip(reserve, sq):
        x[idx] = v * rng.choice([-1, 1])
    assert int((x * x).sum()) == target and np.abs(x).max() == 254
    return x.astype(np.float64), k


# ----------------------------------------------------------------------------- model

def make_weights(a, rng):
    H, L, V = a.hidden, a.layers, a.vocab
    I = a.intermediate if a.intermediate is not None else ref.derive_intermediate(H, a.hidden_ratio)

    def xavier(out_f, in_f):
        lim = math.sqrt(6.0 / (in_f + out_f))
        return rng.uniform(-lim, lim, size=(out_f, in_f))

    def norm(n):
        return 1.0 + 0.1 * rng.normal(size=n)

    w = {"model.embeddings.weight": rng.normal(size=(V, H))}
    if not a.no_lower_bound:
        w["model.lower_bounds"] = rng.normal(0, 0.5, size=(L, H))
    mats = []
    for l in range(L):
        p = f"model.layers.{l}"
        w[p + ".attn_norm.weight"] = norm(H)
        for proj in ("i", "f", "g"):
            w[f"{p}.attn.{proj}_proj.weight"] = xavier(H, H)
            w[f"{p}.attn.{proj}_proj.norm.weight"] = norm(H)
            mats.append(f"{p}.attn.{proj}_proj.weight")
        w[p + ".attn.g_norm.weight"] = norm(H)
        w[p + ".attn.o_proj.weight"] = xavier(H, H)
        w[p + ".attn.o_proj.norm.weight"] = norm(H)
        w[p + ".mlp_norm.weight"] = norm(H)
        w[p + ".mlp.gate_proj.weight"] = xavier(2 * I, H)
        w[p + ".mlp.gate_proj.norm.weight"] = norm(H)
        w[p + ".mlp.down_proj.weight"] = xavier(H, I)
        w[p + ".mlp.down_proj.norm.weight"] = norm(I)
        mats += [p + ".attn.o_proj.weight", p + ".mlp.gate_proj.weight", p + ".mlp.down_proj.weight"]
    w["model.norm.weight"] = norm(H)
    if not a.tie_embeddings:
        w["lm_head.weight"] = xavier(V, H)
        mats.append("lm_head.weight")
    w["lm_head.norm.weight"] = norm(H)

    if a.ties:   # before dtype rounding: plant_weight_ties rescales, then rounds once
        for name in mats:
            w[name] = plant_weight_ties(w[name], rng, a.dtype)
    w = {k: to_dtype(v, a.dtype) for k, v in w.items()}   # exact no-op on planted matrices
    if a.ties:
        row, _ = tie_embedding_row(H, rng)
        w["model.embeddings.weight"][TIE_TOKEN] = row
        w["model.layers.0.attn_norm.weight"][:] = 16.0
        w["model.layers.0.attn.i_proj.norm.weight"][:] = 1.0
        w["model.layers.0.attn.f_proj.norm.weight"][:] = 2.0
    config = {
        "architectures": ["HGRNBitForCausalLM"], "attn_mode": "fused_recurrent",
        "bos_token_id": 1, "conv_size": 4, "eos_token_id": 2, "expand_ratio": 1,
        "fuse_cross_entropy": True, "hidden_act": "swish", "hidden_ratio": a.hidden_ratio,
        "hidden_size": H, "initializer_range": 0.02, "intermediate_size": a.intermediate,
        "max_position_embeddings": 2048, "model_type": "hgrn_bit", "num_heads": 1,
        "num_hidden_layers": L, "pad_token_id": None, "rms_norm_eps": 1e-6,
        "share_conv_kernel": True, "tie_word_embeddings": bool(a.tie_embeddings),
        "torch_dtype": "bfloat16" if a.dtype == "bf16" else "float32",
        "transformers_version": "4.40.2", "use_cache": True,
        "use_lower_bound": not a.no_lower_bound, "use_short_conv": False, "vocab_size": V,
    }
    return config, w, I


def draw_ids(a, draw):
    g = torch.Generator().manual_seed(a.seed * 1_000_003 + 7919 + draw)
    ids = [1] + torch.randint(3, a.vocab, (a.seq_len - 1,), generator=g).tolist()
    if draw >= a.max_draws // 2:
        # Position 0 sees only its own token, so a near tie there survives every redraw
        # of the other ids; in the second half of the draws the first id is random too.
        ids[0] = int(torch.randint(3, a.vocab, (1,), generator=g))
    if a.ties:   # the planted row must be seen; twice, so the state path carries it too
        for p in (1, a.seq_len // 2):
            if p < a.seq_len:
                ids[p] = TIE_TOKEN
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=72)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--intermediate", type=int, default=None,
                    help="explicit intermediate_size; omitted: null in config.json, derived")
    ap.add_argument("--hidden-ratio", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--seq-len", type=int, default=32)
    ap.add_argument("--ties", action="store_true", help="plant exact activation and weight ties")
    ap.add_argument("--tie-embeddings", action="store_true",
                    help="tie_word_embeddings=true: no lm_head.weight, the head uses the embeddings")
    ap.add_argument("--no-lower-bound", action="store_true", help="use_lower_bound=false")
    ap.add_argument("--min-tie-ulps", type=float, default=8)
    ap.add_argument("--max-draws", type=int, default=64)
    a = ap.parse_args()
    if a.vocab < 4 or a.hidden < 1 or a.layers < 1 or a.seq_len < 1:
        ap.error("need vocab >= 4, hidden >= 1, layers >= 1, seq-len >= 1")
    if a.ties and a.tie_embeddings:
        ap.error("--ties plants into lm_head.weight; not with --tie-embeddings")
    if a.ties and a.hidden < 16:
        ap.error("--ties needs --hidden >= 16")

    t0 = time.time()
    rng = np.random.default_rng(a.seed)
    config, w, I = make_weights(a, rng)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
        fh.write("\n")
    ref.write_safetensors(os.path.join(a.out, "model.safetensors"),
                          {k: storage(v, a.dtype) for k, v in w.items()}, {"format": "pt"})

    # Goldens from the files just written (so the loader and dtype path are exercised).
    model = ref.load_model(a.out)
    best = None
    for draw in range(a.max_draws):
        ids = draw_ids(a, draw)
        log = []
        model.set_log(log)
        logits, _ = model.forward(ids)
        rep = ref.act_tie_report(log, near_ulps=a.min_tie_ulps)
        if best is None or rep["near"] < best[2]["near"]:
            best = (ids, logits, rep, draw)
        if rep["near"] == 0:   # no time cap: the chosen draw must not depend on speed
            break
    model.set_log(None)
    ids, logits, rep, draw = best
    with open(os.path.join(a.out, "ids.txt"), "w") as fh:
        fh.write(" ".join(map(str, ids)) + "\n")
    ref.write_safetensors(os.path.join(a.out, "reference_logits.safetensors"),
                          {"seq0": logits.numpy().astype(np.float32)})

    summary = {"out": a.out, "H": a.hidden, "L": a.layers, "I": I, "V": a.vocab,
               "dtype": a.dtype, "seq_len": a.seq_len, "id_draw": draw,
               "max_abs_logit": float(logits.abs().max()),
               "act_ties": {k: rep[k] for k in ("exact", "near", "near_ulps", "min_nonzero_ulps")},
               "weight_ties": ref.weight_tie_report(model)}
    if a.ties:
        # Show the planted ties matter: the wrong rounding mode must move the logits.
        scale = float(logits.abs().max())
        for key, kw in (("act_ties_even_rel", {"act_ties": "even"}),
                        ("weight_ties_away_rel", {"weight_ties": "away"})):
            wrong, _ = ref.load_model(a.out, **kw).forward(ids)
            summary[key] = float((wrong - logits).abs().max()) / scale
            if summary[key] < 1e-4:   # the plant did not reach the logits: a bug here
                sys.exit(f"planted ties have no effect ({key} = {summary[key]:.3g})")
    summary["seconds"] = round(time.time() - t0, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
