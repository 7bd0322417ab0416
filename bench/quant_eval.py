#!/usr/bin/python3
"""The quantization quality matrix of docs/quantization.md, made from scratch.

{RTN, GPTQ, MR-GPTQ} x {INT4-g128, MXFP4, NVFP4} (plus Q4_0 / Q8_0 RTN and
llama.cpp's OCP MXFP4 RTN for reference) of llama-gutenberg, calibrated on
tinyshakespeare.txt (not the evaluation text), evaluated on gutenberg-valid.txt
and wikitext-2-test.txt with llama.cpp's KL-divergence statistics
(`nibble perplexity --kl-divergence`) over non-overlapping 256-token windows
with every predicted token scored (`--score all`, the definition of the model
READMEs; llama.cpp's own scores only the second half of each window), weights only (W4A16) and with emulated
FP4 activations (W4A4, `--act-type`). Bits per weight are measured from each
file: bytes of the quantized linear tensors (block scales and tensor scales
included) x 8 / their element count.

Writes the tables into docs/quantization.md (between its table markers) and
the plot docs/quantization-kld.png. Needs python3-matplotlib (apt-get install -y
python3-matplotlib). Work files go to build/quant-eval (not committed).

usage: bench/quant_eval.py [--nibble build/release/nibble] [--threads 2] [--quick]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("NIBBLE_DATA", os.path.join(ROOT, "..", "shared", "data"))
MODEL = os.path.join(DATA, "models", "llama-gutenberg")
CALIB = os.path.join(DATA, "text", "tinyshakespeare.txt")
TEXTS = {"gutenberg-valid": os.path.join(DATA, "text", "gutenberg-valid.txt"),
         "wikitext-2-test": os.path.join(DATA, "text", "wikitext-2-test.txt")}
CTX = 256  # the model's training window

# (label, format, method, W4A4 activation type or None)
CONFIGS = [
    ("Q8_0 RTN", "q8_0", "rtn", None),
    ("Q4_0 RTN", "q4_0", "rtn", None),
    ("MXFP4 (OCP) RTN", "mxfp4", "rtn", "mxfp4_ocp"),
    ("INT4-g128 RTN", "int4_g128", "rtn", None),
    ("INT4-g128 GPTQ", "int4_g128", "gptq", None),
    ("INT4-g128 MR-GPTQ", "int4_g128", "mr-gptq", None),
    ("MXFP4 RTN", "mxfp4_fpq", "rtn", "mxfp4"),
    ("MXFP4 GPTQ", "mxfp4_fpq", "gptq", "mxfp4"),
    ("MXFP4 MR-GPTQ", "mxfp4_fpq", "mr-gptq", "mxfp4"),
    ("NVFP4 RTN", "nvfp4", "rtn", "nvfp4"),
    ("NVFP4 GPTQ", "nvfp4", "gptq", "nvfp4"),
    ("NVFP4 MR-GPTQ", "nvfp4", "mr-gptq", "nvfp4"),
]
LINEAR = re.compile(r"^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight(\.scale)?$")


def run(cmd):
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), r.stderr[-3000:]))
    print("  %.1fs  %s" % (time.time() - t0, " ".join(os.path.relpath(c, ROOT) if c.startswith("/") else c for c in cmd)),
          file=sys.stderr)
    return r.stdout


def bits_per_weight(nibble, path):
    bits = elems = 0
    for line in run([nibble, "inspect", path]).splitlines():
        f = line.split()
        if len(f) >= 5 and LINEAR.match(f[0]) and f[-1] == "bytes":
            shape = [int(x) for x in re.findall(r"\d+", line[line.index("["):line.index("]")])]
            bits += 8 * int(f[-2])
            if not f[0].endswith(".scale"):
                elems += shape[0] * shape[1]
    return bits / elems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nibble", default=os.path.join(ROOT, "build", "release", "nibble"))
    ap.add_argument("--threads", default="2")
    ap.add_argument("--quick", action="store_true", help="fewer chunks and calibration tokens (a smoke run)")
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "quant-eval"))
    ap.add_argument("--reuse", action="store_true", help="keep files already in --work (resume an interrupted run)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    t = ["-t", a.threads]
    chunks = {"gutenberg-valid": "20" if a.quick else "120", "wikitext-2-test": "10" if a.quick else "60"}
    calib = ["--calib", CALIB, "--calib-tokens", "4096" if a.quick else "16384", "--calib-ctx", str(CTX)]

    base, base_ppl = {}, {}
    for name, text in TEXTS.items():
        base[name] = os.path.join(a.work, "base-%s.kld" % name)
        log = base[name] + ".out"
        if not (a.reuse and os.path.exists(log)):
            with open(log, "w") as f:
                f.write(run([a.nibble, "perplexity", "-m", MODEL, "-f", text, "-c", str(CTX), "--chunks",
                             chunks[name], "--score", "all", "--kl-divergence-base", base[name]] + t))
        with open(log) as f:
            out = f.read()
        # The exact base perplexity (from the logits). The base file keeps only the
        # top 16 nats of each distribution, so llama.cpp's PPL(base) read back from
        # it is biased low wherever a target token is less likely than that.
        base_ppl[name] = float(re.search(r"PPL = ([0-9.]+)", out).group(1))

    rows = []
    for label, fmt, method, act in CONFIGS:
        path = os.path.join(a.work, "%s-%s.gguf" % (fmt, method))
        if not (a.reuse and os.path.exists(path)):
            run([a.nibble, "quantize", "-m", MODEL, "-o", path, "--type", fmt, "--method", method] +
                (calib if method != "rtn" else []) + t)
        row = {"label": label, "format": fmt, "method": method, "bpw": bits_per_weight(a.nibble, path)}
        for setting, act_type in (("W4A16", None), ("W4A4", act)):
            if setting == "W4A4" and act_type is None:
                continue
            for name in TEXTS:
                js = os.path.join(a.work, "%s-%s-%s-%s.json" % (fmt, method, setting, name))
                if not (a.reuse and os.path.exists(js)):
                    run([a.nibble, "perplexity", "-m", path, "--kl-divergence", "--kl-divergence-base", base[name],
                         "--kl-json", js] + (["--act-type", act_type] if act_type else []) + t)
                with open(js) as f:
                    row[(setting, name)] = json.load(f)
        rows.append(row)
    write_table(rows, base_ppl, a)
    plot(rows)


def fmt_unc(v, digits):
    return "%.*f ± %.*f" % (digits, v["value"], digits, v["unc"])


def write_table(rows, base_ppl, a):
    out = ["<!-- made by bench/quant_eval.py%s; do not edit -->" % (" --quick" if a.quick else ""), ""]
    for setting in ("W4A16", "W4A4"):
        for name in TEXTS:
            sample = next((r[(setting, name)] for r in rows if (setting, name) in r), None)
            if sample is None:
                continue
            out.append("### %s, %s (%d tokens scored, PPL of the unquantized model %.3f)" %
                       (setting, name, sample["tokens_scored"], base_ppl[name]))
            out.append("")
            out.append("| format, method | bits/weight | PPL | ΔPPL | mean KLD | top-1 agreement |")
            out.append("| --- | --- | --- | --- | --- | --- |")
            for r in rows:
                s = r.get((setting, name))
                if s is None:
                    continue
                # ΔPPL against the exact base PPL; its uncertainty is llama.cpp's
                # (covariance of the per-token NLLs, from the base file).
                d = {"value": s["ppl_q"]["value"] - base_ppl[name], "unc": s["ppl_diff"]["unc"]}
                out.append("| %s | %.3f | %.3f | %s | %.5f ± %.5f | %.2f ± %.2f %% |" % (
                    r["label"], r["bpw"], s["ppl_q"]["value"], fmt_unc(d, 3), s["kld"]["mean"],
                    s["kld"]["unc"], 100 * s["same_top"]["value"], 100 * s["same_top"]["unc"]))
            out.append("")
    # Into docs/quantization.md, between the markers (the prose around them is written by hand).
    doc = os.path.join(ROOT, "docs", "quantization.md")
    with open(doc) as f:
        text = f.read()
    begin, end = "<!-- table:begin -->", "<!-- table:end -->"
    if begin not in text or end not in text:
        sys.exit("%s: markers %s / %s not found" % (doc, begin, end))
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with open(doc, "w") as f:
        f.write(head + begin + "\n" + "\n".join(out) + "\n" + end + tail)


def plot(rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    marks = {"rtn": "o", "gptq": "s", "mr-gptq": "*"}
    colors = {"int4_g128": "tab:blue", "mxfp4_fpq": "tab:red", "mxfp4": "tab:orange", "nvfp4": "tab:green",
              "q4_0": "tab:purple"}
    names = {"int4_g128": "INT4-g128", "mxfp4_fpq": "MXFP4 (FP-Quant scale)", "mxfp4": "MXFP4 (OCP scale)",
             "nvfp4": "NVFP4", "q4_0": "Q4_0"}
    for ax, setting in zip(axes, ("W4A16", "W4A4")):
        for r in rows:
            s = r.get((setting, "gutenberg-valid"))
            if s is None or r["format"] not in colors:  # Q8_0 (8.5 bits) is off this scale: see the table
                continue
            # small horizontal offsets per method so equal-bpw points do not hide each other
            dx = {"rtn": -0.012, "gptq": 0.0, "mr-gptq": 0.012}[r["method"]]
            ax.errorbar(r["bpw"] + dx, s["kld"]["mean"], yerr=s["kld"]["unc"], marker=marks[r["method"]],
                        color=colors[r["format"]], markersize=12 if r["method"] == "mr-gptq" else 7, linestyle="none")
        ax.set_xlabel("bits per weight (linear layers, scales included)")
        ax.set_title("llama-gutenberg, %s, gutenberg-valid" % setting)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("mean KL divergence to the bf16 model (nats/token)")
    handles = [Line2D([], [], color=c, marker="o", linestyle="none", label=names[f]) for f, c in colors.items()]
    handles += [Line2D([], [], color="black", marker=m, linestyle="none", label=k.upper()) for k, m in marks.items()]
    axes[1].legend(handles=handles, fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(os.path.join(ROOT, "docs", "quantization-kld.png"), dpi=100)


if __name__ == "__main__":
    main()
