#!/usr/bin/env python3
"""Plot nvrar's latency against NCCL's from nvrar_perf -J files.

    python3 bench/plot.py -o latency.png RUN.json [RUN.json ...]

Each file (one nvrar_perf run with --compare nccl) gives two curves: nvrar and NCCL, out-of-place
time per call against message size, log-log, with the speed-up annotated underneath. Needs
matplotlib (pip install matplotlib).
"""
import argparse
import json
import os
import sys


def label_of(path, run):
    mode = "graph" if run.get("graph_launches") else "eager"
    return f"{run['ranks']} GPUs, {mode}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="nvrar_perf -J output files")
    parser.add_argument("-o", "--output", default="latency.png", help="PNG to write")
    parser.add_argument("--title", default=None)
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("bench/plot.py needs matplotlib: pip install matplotlib")

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    device = None
    for i, path in enumerate(args.runs):
        run = json.load(open(path))
        rows = [r for r in run["rows"] if "nccl_us" in r]
        if not rows:
            sys.exit(f"{path}: no NCCL column; run nvrar_perf with --compare nccl")
        device = device or run.get("device")
        sizes = [r["bytes"] for r in rows]
        color = f"C{i}"
        label = label_of(path, run)
        top.plot(sizes, [r["time_us"] for r in rows], "-o", color=color, ms=3, label=f"nvrar, {label}")
        top.plot(sizes, [r["nccl_us"] for r in rows], "--", color=color, alpha=0.7, label=f"NCCL, {label}")
        bottom.plot(sizes, [r["nccl_us"] / r["time_us"] for r in rows], "-o", color=color, ms=3, label=label)
    top.set_xscale("log", base=2)
    top.set_yscale("log")
    top.set_ylabel("time per all-reduce (us)")
    top.grid(True, which="both", alpha=0.3)
    top.legend(fontsize=8)
    top.set_title(args.title or f"nvrar vs NCCL all-reduce, bf16, {device or ''}")
    bottom.axhline(1.0, color="k", lw=0.8)
    bottom.set_ylabel("speed-up over NCCL")
    bottom.set_xlabel("message size (bytes)")
    bottom.grid(True, which="both", alpha=0.3)
    ticks = [2 ** k for k in range(10, 28, 2)]
    bottom.set_xticks(ticks)
    bottom.set_xticklabels([f"{t >> 20}M" if t >= 1 << 20 else f"{t >> 10}K" for t in ticks])
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {os.path.abspath(args.output)}")


if __name__ == "__main__":
    main()
