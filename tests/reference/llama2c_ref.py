#!/usr/bin/python3
"""Independent fp32 PyTorch forward pass for llama2.c legacy (version 0) checkpoints.

Written from the format description in shared/data/models/stories260K/README.md:
header of 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
seq_len), then float32 arrays; RMSNorm (eps 1e-5), RoPE on adjacent pairs
(2i, 2i+1) of each head with theta 10000, grouped-query attention, SwiGLU FFN
w2(silu(w1 x) * w3 x), classifier shared with the embedding when vocab_size > 0.

Perplexity definition (what --ids mode prints):
  * take the first N ids of the file (--max-tokens, default all);
  * cut them into non-overlapping windows of --ctx tokens, dropping the last
    partial window; every window is run from scratch (position 0, empty cache);
  * inside a window, the logits at positions 0..ctx-2 score the tokens at
    positions 1..ctx-1, so each window scores ctx-1 tokens (the first token of
    a window is never scored);
  * NLL of a token = -log_softmax(logits)[target], log_softmax in fp32, the sum
    accumulated in float64; nll_mean = sum / n_scored; ppl = exp(nll_mean).
Output: one JSON line {"ppl", "nll_mean", "n_scored", "n_windows"}.
--logits-out saves the fp32 logits of every position, shape (n_windows, ctx, vocab).

--greedy N --prompt-ids "1 ..." mimics run.c with -t 0 -n N: N forward passes
starting from the first prompt id; while prompt ids remain they are forced,
afterwards the argmax is taken; a generated BOS (1) stops early. It prints the
whole sequence (prompt + generated), i.e. 1 + N ids, like reference/*.ids.txt.
"""
import argparse
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load_checkpoint(path):
    raw = np.fromfile(path, dtype=np.uint8)
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = np.frombuffer(raw[:28].tobytes(), dtype="<i4").tolist()
    shared = vocab > 0
    vocab = abs(vocab)
    floats = torch.from_numpy(np.frombuffer(raw[28:].tobytes(), dtype="<f4").copy())
    head = dim // n_heads
    kv_dim = n_kv * head
    off = 0

    def take(*shape):
        nonlocal off
        n = math.prod(shape)
        if off + n > floats.numel():
            sys.exit(f"{path}: file too short reading a tensor of shape {shape}")
        t = floats[off:off + n].view(*shape)
        off += n
        return t

    w = {"emb": take(vocab, dim), "rms_att": take(n_layers, dim),
         "wq": take(n_layers, dim, dim), "wk": take(n_layers, kv_dim, dim),
         "wv": take(n_layers, kv_dim, dim), "wo": take(n_layers, dim, dim),
         "rms_ffn": take(n_layers, dim), "w1": take(n_layers, hidden, dim),
         "w2": take(n_layers, dim, hidden), "w3": take(n_layers, hidden, dim),
         "rms_final": take(dim)}
    take(seq_len, head // 2)  # legacy freq_cis_real (unused: RoPE is computed)
    take(seq_len, head // 2)  # legacy freq_cis_imag
    w["cls"] = w["emb"] if shared else take(vocab, dim)
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv,
               vocab=vocab, seq_len=seq_len, head=head)
    return cfg, w


def linear(x, w):
    """x @ w.T for a weight w of shape (out, in). Debian's torch links the
    reference (netlib) BLAS, which is ~20x slower than oneDNN for these shapes,
    so 2-D fp32 products go through oneDNN's inner product when it is built in.
    Both are plain fp32; only the summation order differs."""
    if torch.backends.mkldnn.is_available():
        y = torch._C._nn.mkldnn_linear(x.reshape(-1, x.shape[-1]).to_mkldnn(), w.to_mkldnn())
        return y.to_dense().view(*x.shape[:-1], w.shape[0])
    return x @ w.T


def rmsnorm(x, g, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


def rope(x, pos):
    """x: (B, T, H, head); rotate each pair (2i, 2i+1) by pos * theta^(-2i/head)."""
    head = x.shape[-1]
    freq = 1.0 / (10000.0 ** (torch.arange(0, head, 2, dtype=torch.float32) / head))
    ang = pos.float()[:, None] * freq[None, :]            # (T, head/2)
    cos, sin = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


@torch.no_grad()
def forward(cfg, w, ids):
    """ids: (B, T) int64, positions 0..T-1. Returns fp32 logits (B, T, vocab)."""
    B, T = ids.shape
    H, KV, hd = cfg["n_heads"], cfg["n_kv"], cfg["head"]
    pos = torch.arange(T)
    mask = torch.full((T, T), float("-inf")).triu(1)
    x = w["emb"][ids]
    for l in range(cfg["n_layers"]):
        h = rmsnorm(x, w["rms_att"][l])
        q = rope(linear(h, w["wq"][l]).view(B, T, H, hd), pos)
        k = rope(linear(h, w["wk"][l]).view(B, T, KV, hd), pos)
        v = linear(h, w["wv"][l]).view(B, T, KV, hd)
        rep = H // KV  # query head j uses kv head j // rep
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))   # (B, H, T, hd)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + linear(o, w["wo"][l])
        h = rmsnorm(x, w["rms_ffn"][l])
        x = x + linear(F.silu(linear(h, w["w1"][l])) * linear(h, w["w3"][l]), w["w2"][l])
    return linear(rmsnorm(x, w["rms_final"]), w["cls"])


def perplexity(cfg, w, ids, ctx, logits_out=None, batch=32):
    n_windows = len(ids) // ctx
    if n_windows == 0:
        sys.exit(f"need at least ctx={ctx} tokens, got {len(ids)}")
    wins = torch.tensor(ids[:n_windows * ctx], dtype=torch.int64).view(n_windows, ctx)
    nll_sum, all_logits = 0.0, []
    for s in range(0, n_windows, batch):
        chunk = wins[s:s + batch]
        logits = forward(cfg, w, chunk)
        if logits_out:
            all_logits.append(logits.numpy())
        logp = torch.log_softmax(logits[:, :-1], dim=-1)      # fp32
        nll = -logp.gather(-1, chunk[:, 1:, None]).squeeze(-1)
        nll_sum += nll.double().sum().item()
    if logits_out:
        np.save(logits_out, np.concatenate(all_logits))
    n_scored = n_windows * (ctx - 1)
    mean = nll_sum / n_scored
    return {"ppl": math.exp(mean), "nll_mean": mean, "n_scored": n_scored, "n_windows": n_windows}


def greedy(cfg, w, prompt, steps):
    seq = list(prompt[:1])
    for pos in range(steps):  # recompute the whole prefix each step: simple, and tiny models only
        if pos + 1 < len(prompt):
            nxt = prompt[pos + 1]
        else:
            nxt = int(forward(cfg, w, torch.tensor([seq]))[0, -1].argmax())
            if nxt == 1:  # BOS ends generation, as in run.c
                break
        seq.append(nxt)
    return seq


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", help="file of whitespace-separated token ids to score")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--logits-out")
    ap.add_argument("--batch", type=int, default=32, help="windows per forward call")
    ap.add_argument("--greedy", type=int, help="greedy steps (forward passes)")
    ap.add_argument("--prompt-ids", default="1")
    a = ap.parse_args()
    cfg, w = load_checkpoint(a.model)
    if a.greedy is not None:
        print(" ".join(map(str, greedy(cfg, w, [int(t) for t in a.prompt_ids.split()], a.greedy))))
        return
    if not a.ids:
        ap.error("give --ids or --greedy")
    with open(a.ids) as f:
        ids = [int(t) for t in f.read().split()]
    if a.max_tokens is not None:
        ids = ids[:a.max_tokens]
    if a.ctx < 2 or a.ctx > cfg["seq_len"]:
        sys.exit(f"--ctx must be in [2, {cfg['seq_len']}]")
    bad = [t for t in ids if not 0 <= t < cfg["vocab"]]
    if bad:
        sys.exit(f"token id {bad[0]} out of range [0, {cfg['vocab']})")
    print(json.dumps(perplexity(cfg, w, ids, a.ctx, a.logits_out, a.batch)))


if __name__ == "__main__":
    main()
