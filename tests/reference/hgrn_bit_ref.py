#!/usr/bin/python3
"""Independent fp32 PyTorch forward pass of the MatMul-free LM (HGRNBit, model_type hgrn_bit).

Written from shared/design/matmulfree-lm.md (sections 2-6), not from the upstream
mmfreelm code, so that agreement between this script, the upstream goldens and
nibble is a real cross-check. Summary of what is computed (spec section numbers):

  x0 = embeddings[id]
  per layer l:
    n = RMSNorm(x; attn_norm, eps)
    i, f, g = BitLinear_i(n), BitLinear_f(n), BitLinear_g(n)          (5.1)
    f = sigmoid(f); l > 0: f = lb[l] + (1 - lb[l]) * f                (4.2, 4.3)
    c = SiLU(i) * (1 - f);  h_t = f_t * h_{t-1} + c_t  (fp32 state)
    o = RMSNorm(g; g_norm, eps) * SiLU(h)                             (RMSNorm on g, SiLU on h)
    x = x + BitLinear_o(o)
    [gate | up] = BitLinear_gate(RMSNorm(x; mlp_norm, eps))           (gate = first half)
    x = x + BitLinear_down(SiLU(gate) * up)
  logits = BitLinear_lm_head(RMSNorm(x; model.norm, eps))

BitLinear (5.1): inner RMSNorm with its own weight and eps 1e-6 (not rms_norm_eps,
not the 1e-8 the upstream module prints), per-token absmax int8 with ties AWAY from
zero, per-tensor ternary weights (mean|W| in float64, floor 1e-5, ties to EVEN).
The projection is done as the engine does it (5.3): an exact integer sum of
int8 x ternary codes, then x (1/s_a) x (1/s_w).

CLI:
  --model DIR (--ids "1 2 3" | --ids-file F)   one sequence per line of F
      [--logits-out F.npy] [--logits-safetensors F] [--compare REF.safetensors]
  --model DIR --ids "1 ..." --greedy N        greedy continuation via the recurrent state
Prints one JSON object. Run with /usr/bin/python3 (Debian torch + numpy).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_grad_enabled(False)

BITLINEAR_EPS = 1e-6   # spec 5.1 / S1: the fused kernel's default eps, for every BitLinear
ACT_FLOOR = 1e-5       # spec 5.1 step 3 / N4: max(absmax, 1e-5), not + eps
WEIGHT_FLOOR = 1e-5    # spec 5.1 step 6 / P7: max(mean|W|, 1e-5)


# ----------------------------------------------------------------------------- safetensors

def _bf16_bits_to_f32(bits):
    # bf16 is the top half of an fp32: widening is exact (spec 3).
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(x):
    """fp32 -> bf16 bit patterns, round to nearest even (what torch's .bfloat16() does)."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return b.astype(np.uint16)


def read_safetensors(path):
    """Returns {name: fp32 torch tensor}. F32/F16/BF16 are converted exactly."""
    with open(path, "rb") as fh:
        raw = fh.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        buf = raw[base + b: base + e]
        if dt == "F32":
            arr = np.frombuffer(buf, dtype="<f4").astype(np.float32)
        elif dt == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float32)   # exact widening
        elif dt == "BF16":
            arr = _bf16_bits_to_f32(np.frombuffer(buf, dtype="<u2"))
        else:
            sys.exit(f"{path}: tensor {name}: dtype {dt} not supported (F32, F16, BF16)")
        if arr.size != math.prod(shape):
            sys.exit(f"{path}: tensor {name}: {arr.size} values for shape {shape}")
        out[name] = torch.from_numpy(arr.reshape(shape).copy())
    return out


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: np.ndarray}; float32 -> F32, uint16 is taken as BF16 bit patterns."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.float32:
            dt = "F32"
        elif arr.dtype == np.uint16:
            dt = "BF16"
        else:
            raise ValueError(f"{name}: unsupported array dtype {arr.dtype}")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)   # data start 8-byte aligned, as HF writes it
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(hjson)))
        fh.write(hjson)
        for d in blobs:
            fh.write(d)


def load_hf_folder(folder):
    with open(os.path.join(folder, "config.json")) as fh:
        cfg = json.load(fh)
    single = os.path.join(folder, "model.safetensors")
    index = os.path.join(folder, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(single):
        tensors = read_safetensors(single)
    elif os.path.exists(index):
        with open(index) as fh:
            shards = sorted(set(json.load(fh)["weight_map"].values()))
        for s in shards:
            tensors.update(read_safetensors(os.path.join(folder, s)))
    else:
        sys.exit(f"{folder}: no model.safetensors or model.safetensors.index.json")
    return cfg, tensors


# ----------------------------------------------------------------------------- config

def derive_intermediate(hidden, hidden_ratio):
    """Spec 2 / S4: truncate H*ratio*2/3 (Python float arithmetic, left to right),
    then round UP to a multiple of 256."""
    if hidden_ratio is None:
        hidden_ratio = 4
    t = int(hidden * hidden_ratio * 2 / 3)
    return 256 * ((t + 255) // 256)


def parse_config(c):
    if c.get("model_type", "hgrn_bit") != "hgrn_bit":
        sys.exit(f"model_type {c.get('model_type')!r} is not hgrn_bit")
    # Options the spec says to reject by name (8 S5-S7): upstream is broken or they are dead.
    if c.get("attn_mode", "fused_recurrent") != "fused_recurrent":
        sys.exit(f"attn_mode {c['attn_mode']!r} not supported (only fused_recurrent)")
    if c.get("use_short_conv", False):
        sys.exit("use_short_conv=true not supported (broken upstream, spec S5)")
    if c.get("expand_ratio", 1) != 1:
        sys.exit(f"expand_ratio {c['expand_ratio']} not supported (only 1, spec S6)")
    H = int(c.get("hidden_size", 2048))
    inter = c.get("intermediate_size")
    I = int(inter) if inter is not None else derive_intermediate(H, c.get("hidden_ratio", 4))
    return {
        "H": H, "D": H, "L": int(c.get("num_hidden_layers", 24)), "I": I,
        "V": int(c.get("vocab_size", 32000)),
        "eps": float(c.get("rms_norm_eps", 1e-6)),
        "use_lower_bound": bool(c.get("use_lower_bound", True)),
        "tie": bool(c.get("tie_word_embeddings", False)),
        "intermediate_derived": inter is None,
    }


# ----------------------------------------------------------------------------- primitives

def round_half_away(z):
    """Triton/libdevice roundf: ties away from zero. Done in float64 because in fp32
    |z| + 0.5 rounds 0.49999997 up to 1.0 (wrong code); in float64 the sum is exact."""
    zd = z.double()
    return (torch.sign(zd) * torch.floor(zd.abs() + 0.5)).float()


def round_half_even(z):
    return torch.round(z)   # torch.round is round-half-to-even


def exp32(x):
    """fp32 exp, evaluated in float64 and rounded: (almost always) the correctly rounded
    value, and independent of tensor shape. torch's fp32 sigmoid/exp take vectorized or
    scalar code paths depending on the shape and can differ by an ulp, which would make
    this script's own prefill and token-by-token decode disagree."""
    return torch.exp(x.double()).float()


def sigmoid(x):
    return 1.0 / (1.0 + exp32(-x))


def rmsnorm(v, w, eps):
    """Spec 4.1: r = 1/sqrt(mean(v^2) + eps), out = (v * r) * w, all fp32."""
    r = 1.0 / torch.sqrt((v * v).mean(-1, keepdim=True) + eps)
    return (v * r) * w


def _linear(x, w, w_mkl):
    # Debian's torch uses the reference BLAS (slow); oneDNN's inner product is fast.
    # The operands here are integer codes, so any summation order gives the exact sum.
    if w_mkl is not None:
        return torch._C._nn.mkldnn_linear(x.contiguous().to_mkldnn(), w_mkl).to_dense()
    return x @ w.t()


class BitLinear:
    """FusedBitLinear of spec 5.1, weights ternarized once (5.5)."""

    def __init__(self, name, weight, norm_w, weight_ties="even", act_ties="away"):
        self.name = name
        self.norm_w = norm_w
        W = weight.float()
        out_f, in_f = W.shape
        if 127 * in_f >= 2 ** 24:
            raise ValueError(f"{name}: in_features {in_f} too large for exact fp32 integer sums")
        # m = mean|W| accumulated in float64, rounded to fp32, floored (5.5 steps 2-3, N13).
        m = np.float32(W.double().abs().sum().item() / W.numel())
        self.mean_abs = float(m)
        m = max(m, np.float32(WEIGHT_FLOOR))
        s_w = np.float32(np.float32(1.0) / m)
        p = W * torch.tensor(s_w, dtype=torch.float32)   # product in fp32 (5.5 step 4)
        rnd = round_half_even if weight_ties == "even" else round_half_away
        self.T = rnd(p).clamp(-1, 1)
        self.d = np.float32(np.float32(1.0) / s_w)        # dequant factor (5.5 step 5)
        self.s_w = float(s_w)
        self.density = float((self.T != 0).float().mean())
        dist = (p.double().abs() - 0.5).abs()
        self.weight_exact_ties = int((dist == 0).sum())
        self.weight_near_ties = int(((dist > 0) & (dist < 1e-6)).sum())
        self.act_round = round_half_away if act_ties == "away" else round_half_even
        self.T_mkl = self.T.to_mkldnn() if torch.backends.mkldnn.is_available() else None
        self.log = None   # list to collect activation-tie statistics into, if set

    def __call__(self, v):
        r = 1.0 / torch.sqrt((v * v).mean(-1, keepdim=True) + BITLINEAR_EPS)
        u = (v * r) * self.norm_w                                  # norm weight BEFORE quant (N3)
        a = u.abs().amax(-1, keepdim=True)
        s_a = 127.0 / torch.clamp(a, min=ACT_FLOOR)                 # one scale per token (N2)
        z = u * s_a
        q = self.act_round(z).clamp(-128, 127)
        if self.log is not None:
            self.log.append((self.name, z))
        acc = _linear(q, self.T, self.T_mkl)                       # exact integer sums
        return (acc * (1.0 / s_a)) * torch.tensor(self.d, dtype=torch.float32)


# ----------------------------------------------------------------------------- model

class HGRNBit:
    def __init__(self, cfg_json, tensors, weight_ties="even", act_ties="away"):
        c = self.cfg = parse_config(cfg_json)
        H, D, L, I, V = c["H"], c["D"], c["L"], c["I"], c["V"]
        t = dict(tensors)
        used = set()

        def get(name, shape):
            if name not in t:
                sys.exit(f"missing tensor {name}")
            x = t[name]
            if list(x.shape) != list(shape):
                sys.exit(f"tensor {name}: shape {list(x.shape)}, expected {list(shape)}")
            used.add(name)
            return x.float().contiguous()

        def bitlinear(prefix, out_f, in_f, weight_name=None):
            w = get(weight_name or prefix + ".weight", (out_f, in_f))
            return BitLinear(prefix, w, get(prefix + ".norm.weight", (in_f,)), weight_ties, act_ties)

        self.emb = get("model.embeddings.weight", (V, H))
        if c["use_lower_bound"]:
            self.lb = self.lower_bounds(get("model.lower_bounds", (L, H)))
        else:
            self.lb = None
        self.layers = []
        for l in range(L):
            p = f"model.layers.{l}"
            self.layers.append({
                "attn_norm": get(p + ".attn_norm.weight", (H,)),
                "i": bitlinear(p + ".attn.i_proj", D, H),
                "f": bitlinear(p + ".attn.f_proj", D, H),
                "g": bitlinear(p + ".attn.g_proj", D, H),
                "g_norm": get(p + ".attn.g_norm.weight", (D,)),
                "o": bitlinear(p + ".attn.o_proj", H, D),
                "mlp_norm": get(p + ".mlp_norm.weight", (H,)),
                "gate": bitlinear(p + ".mlp.gate_proj", 2 * I, H),
                "down": bitlinear(p + ".mlp.down_proj", H, I),
            })
        self.norm = get("model.norm.weight", (H,))
        if "lm_head.weight" in t:
            self.head = bitlinear("lm_head", V, H)
        elif c["tie"]:
            # Tied: the embedding matrix is the head weight, still ternarized at use (spec 2).
            self.head = BitLinear("lm_head", self.emb, get("lm_head.norm.weight", (H,)),
                                  weight_ties, act_ties)
        else:
            sys.exit("missing tensor lm_head.weight")
        extra = sorted(set(t) - used - {"lm_head.weight"})
        if extra:
            sys.exit(f"unexpected tensors: {extra[:5]}")

    @staticmethod
    def lower_bounds(P):
        """Spec 4.2 / N7: softmax over LAYERS (dim 0), cumsum over layers, minus row 0."""
        p = torch.softmax(P.float(), dim=0)
        lb = torch.cumsum(p, dim=0) - p[0]
        assert bool((lb[0] == 0).all())
        return lb

    def bitlinears(self):
        for layer in self.layers:
            for k in ("i", "f", "g", "o", "gate", "down"):
                yield layer[k]
        yield self.head

    def set_log(self, log):
        for b in self.bitlinears():
            b.log = log

    def forward(self, ids, state=None):
        """ids: list of ints (one sequence). state: list of per-layer h [D] fp32 or None
        (= zeros). Returns (logits [T, V] fp32, new state)."""
        c = self.cfg
        ids_t = torch.tensor(ids, dtype=torch.int64)
        if len(ids) and (int(ids_t.min()) < 0 or int(ids_t.max()) >= c["V"]):
            sys.exit(f"token id out of range [0, {c['V']})")
        x = self.emb[ids_t]
        eps = c["eps"]
        new_state = []
        for l, P in enumerate(self.layers):
            n = rmsnorm(x, P["attn_norm"], eps)
            i, f, g = P["i"](n), P["f"](n), P["g"](n)   # three separate quantizations (N12)
            f = sigmoid(f)
            if self.lb is not None and l > 0:
                f = self.lb[l] + (1 - self.lb[l]) * f
            c_in = i * (1 - f) / (1 + exp32(-i))      # SiLU(i)*(1-f), as a*b/(1+e^-a)
            h = state[l].clone() if state is not None else torch.zeros(c["D"])
            ys = torch.empty_like(c_in)
            for t in range(len(ids)):                     # fp32 recurrence, per channel
                h = f[t] * h + c_in[t]
                ys[t] = h
            new_state.append(h)
            o = rmsnorm(g, P["g_norm"], eps) * ys * sigmoid(ys)   # RMSNorm(g) * SiLU(h)
            x = x + P["o"](o)
            y = P["gate"](rmsnorm(x, P["mlp_norm"], eps))              # fp32 residual sum normed
            gate, up = y[:, :c["I"]], y[:, c["I"]:]                    # gate = first half (N5)
            x = x + P["down"](gate * up / (1 + exp32(-gate)))
        logits = self.head(rmsnorm(x, self.norm, eps))
        return logits, new_state


def load_model(folder, **kw):
    cfg, tensors = load_hf_folder(folder)
    return HGRNBit(cfg, tensors, **kw)


# ----------------------------------------------------------------------------- diagnostics

def act_tie_report(log, near_ulps=8):
    """How close int8 roundings came to a .5 boundary. z = u*s_a in code units; exact
    ties (distance 0) are rounded away from zero on purpose; near ties (0 < distance
    < near_ulps ulps of z) are where a differently ordered fp32 computation (another
    engine, a GPU kernel) may round the other way and flip a code. On the trained
    mmfree-gutenberg model every divergence from the upstream goldens starts at a
    near tie of 2-5 ulps."""
    exact, n_near, min_ulps, where = 0, 0, float("inf"), []
    for name, z in log:
        za = z.double().abs()
        dist = (za - torch.floor(za) - 0.5).abs()
        ulp = torch.from_numpy(np.spacing(z.abs().numpy()).astype(np.float64))
        ulps = dist / ulp
        exact += int((dist == 0).sum())
        nz = ulps[dist > 0]
        if nz.numel():
            min_ulps = min(min_ulps, float(nz.min()))
        idx = ((dist > 0) & (ulps < near_ulps)).nonzero().tolist()
        n_near += len(idx)
        for pos, ch in idx:
            where.append({"bitlinear": name, "pos": pos, "channel": ch, "z": float(z[pos, ch]),
                          "ulps": float(ulps[pos, ch])})
    return {"exact": exact, "near": n_near, "near_ulps": near_ulps,
            "min_nonzero_ulps": min_ulps, "near_list": where[:16]}


def weight_tie_report(model):
    return {"exact": sum(b.weight_exact_ties for b in model.bitlinears()),
            "near_1e-6": sum(b.weight_near_ties for b in model.bitlinears())}


def compare(logits, ref):
    """Per position: max|delta| / max|ref|; argmax agreement (torch.argmax takes the lowest
    index on ties), also restricted to positions whose reference top-2 margin > 0.01."""
    d = (logits - ref).abs().amax(-1)
    scale = ref.abs().amax(-1)
    rel = (d / scale).tolist()
    top2 = torch.topk(ref, 2, dim=-1).values
    margin = (top2[:, 0] - top2[:, 1])
    agree = (logits.argmax(-1) == ref.argmax(-1))
    safe = margin > 0.01
    return {"max_abs": float(d.max()), "max_rel": max(rel),
            "rel_per_pos": [float(f"{r:.3g}") for r in rel],
            "argmax_agree": f"{int(agree.sum())}/{len(rel)}",
            "argmax_agree_margin_gt_0.01": f"{int((agree & safe).sum())}/{int(safe.sum())}"}


# ----------------------------------------------------------------------------- CLI

def greedy(model, prompt, steps, stop_eos=None):
    """Prefill the prompt, then feed one token at a time through the recurrent state."""
    logits, state = model.forward(prompt)
    seq, margins = list(prompt), []
    last = logits[-1]
    for _ in range(steps):
        top2 = torch.topk(last, 2).values
        nxt = int(last.argmax())
        margins.append(float(top2[0] - top2[1]))
        seq.append(nxt)
        if stop_eos is not None and nxt == stop_eos:
            break
        logits, state = model.forward([nxt], state)
        last = logits[-1]
    return seq, margins


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face folder (config.json + safetensors)")
    ap.add_argument("--ids", help='one sequence, e.g. "1 2 3"')
    ap.add_argument("--ids-file", help="one sequence per line (line k = seq{k})")
    ap.add_argument("--logits-out", help=".npy: [T, V] for one sequence, [n, T, V] for several")
    ap.add_argument("--logits-safetensors", help="safetensors with F32 keys seq0, seq1, ...")
    ap.add_argument("--compare", help="reference logits safetensors (keys seq0, ...) to report against")
    ap.add_argument("--greedy", type=int, help="greedy steps after the prompt (--ids)")
    ap.add_argument("--stop-eos", action="store_true", help="with --greedy: stop at eos id 2")
    ap.add_argument("--check-decode", action="store_true",
                    help="also run token by token through the state and report the max |diff|")
    # Diagnostics only (deliberately wrong rounding modes, to show ties matter):
    ap.add_argument("--act-ties", choices=["away", "even"], default="away", help=argparse.SUPPRESS)
    ap.add_argument("--weight-ties", choices=["even", "away"], default="even", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.ids is not None:
        seqs = [[int(t) for t in a.ids.split()]]
    elif a.ids_file:
        with open(a.ids_file) as fh:
            seqs = [[int(t) for t in line.split()] for line in fh if line.strip()]
    else:
        ap.error("give --ids or --ids-file")
    if not seqs or any(not s for s in seqs):
        ap.error("empty id sequence")

    model = load_model(a.model, weight_ties=a.weight_ties, act_ties=a.act_ties)
    c = model.cfg
    summary = {"model": a.model, "H": c["H"], "L": c["L"], "I": c["I"], "V": c["V"],
               "intermediate_derived": c["intermediate_derived"]}

    if a.greedy is not None:
        seq, margins = greedy(model, seqs[0], a.greedy, 2 if a.stop_eos else None)
        summary.update({"ids": seq, "generated": seq[len(seqs[0]):],
                        "margins": [float(f"{m:.4g}") for m in margins]})
        print(json.dumps(summary))
        return

    log = []
    model.set_log(log)
    outs, results = [], []
    ref = read_safetensors(a.compare) if a.compare else None
    for k, ids in enumerate(seqs):
        logits, _ = model.forward(ids)
        outs.append(logits)
        r = {"n_tokens": len(ids), "argmax": logits.argmax(-1).tolist(),
             "max_abs_logit": float(logits.abs().max())}
        if a.check_decode:
            model.set_log(None)
            state, rows = None, []
            for tok in ids:
                lg, state = model.forward([tok], state)
                rows.append(lg[0])
            r["decode_vs_prefill_max_abs"] = float((torch.stack(rows) - logits).abs().max())
            model.set_log(log)
        if ref is not None:
            key = f"seq{k}"
            if key not in ref:
                sys.exit(f"{a.compare}: no key {key}")
            if tuple(ref[key].shape) != tuple(logits.shape):
                sys.exit(f"{a.compare}: {key} has shape {list(ref[key].shape)}, "
                         f"logits are {list(logits.shape)}")
            r["compare"] = compare(logits, ref[key])
        results.append(r)
    model.set_log(None)
    summary["seqs"] = results
    summary["act_ties"] = act_tie_report(log)
    summary["weight_ties"] = weight_tie_report(model)

    if a.logits_out:
        if len(outs) == 1:
            np.save(a.logits_out, outs[0].numpy())
        elif len({o.shape for o in outs}) == 1:
            np.save(a.logits_out, torch.stack(outs).numpy())
        else:
            sys.exit("--logits-out: sequences differ in length; use --logits-safetensors")
    if a.logits_safetensors:
        write_safetensors(a.logits_safetensors,
                          {f"seq{k}": o.numpy().astype(np.float32) for k, o in enumerate(outs)})
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
