#!/usr/bin/env python3
"""Tables from nvrar_perf -J files: `perf_table.py compare LOGS` (nvrar vs NCCL per run),
`perf_table.py sweep LOGS` (time per launch-shape variant), `perf_table.py algos LOGS` (each forced
algorithm on 4 GPUs and on the 2x2 and 4x1 virtual layouts, with NCCL and busbw), all used by
scripts/gpu_check.sh, and
`perf_table.py markdown RUN.json` (one run as a Markdown table, for bench/results/)."""
import glob
import json
import os
import sys


def load(path):
    return {row["bytes"]: row for row in json.load(open(path))["rows"]}


def compare(logs):
    runs = [r for r in ("graph.g4", "eager.g4", "graph.g2", "eager.g2")
            if os.path.exists(f"{logs}/perf.{r}.json")]
    data = {r: load(f"{logs}/perf.{r}.json") for r in runs}
    sizes = sorted({b for d in data.values() for b in d})
    print("%10s" % "bytes" + "".join("%25s" % r for r in runs))
    for b in sizes:
        cells = []
        for r in runs:
            row = data[r].get(b)
            cells.append("%25s" % ("" if row is None else "%7.2f %7.2f %5.2fx%s" % (
                row["time_us"], row["nccl_us"], row["nccl_us"] / row["time_us"],
                "!" if row["wrong"] or row["inplace_wrong"] else " ")))
        print("%10d" % b + "".join(cells))


def sweep(logs):
    data = {os.path.basename(p)[6:-5]: load(p) for p in sorted(glob.glob(f"{logs}/sweep.*.json"))}
    for prefix in ("g4.oneshot", "g4.twoshot", "g2.", "g4.ring"):
        names = [n for n in data if n.startswith(prefix)]
        if not names:
            continue
        sizes = sorted({b for n in names for b in data[n]})
        print("%10s" % "bytes" + "".join("%18s" % n for n in names))
        for b in sizes:
            print("%10d" % b + "".join("%18s" % ("" if b not in data[n] else "%.2f%s" % (
                data[n][b]["time_us"], "!" if data[n][b]["wrong"] or data[n][b]["inplace_wrong"] else ""))
                for n in names))


def algos(logs):
    """us per call (busbw GB/s) of the perf.graph.{g4,v2,v1}.* runs, one table per layout, NCCL last
    (measured in the same run as the algorithm); '!' marks wrong results."""
    for layout, title in (("g4", "4 GPUs, one node"), ("v2", "2x2 virtual nodes"), ("v1", "4x1 virtual nodes")):
        runs = [os.path.basename(p)[5:-5] for p in sorted(glob.glob(f"{logs}/perf.graph.{layout}.*.json"))]
        if not runs:
            continue
        data = {r: load(f"{logs}/perf.{r}.json") for r in runs}
        sizes = sorted({b for d in data.values() for b in d})
        names = [r.replace("graph.%s." % layout, "") for r in runs]
        print("\n-- %s" % title)
        print("%10s" % "bytes" + "".join("%19s" % n for n in names) + "%10s" % "nccl")
        for b in sizes:
            cells = []
            for r in runs:
                row = data[r].get(b)
                cells.append("%19s" % ("" if row is None else "%7.2f (%5.1f)%s" % (
                    row["time_us"], row["busbw"], "!" if row["wrong"] or row["inplace_wrong"] else " ")))
            nccl = next((data[r][b]["nccl_us"] for r in runs if b in data[r] and "nccl_us" in data[r][b]), None)
            print("%10d" % b + "".join(cells) + ("%10.2f" % nccl if nccl else ""))


def markdown(path):
    run = json.load(open(path))
    n = run["ranks"]
    has_nccl = any("nccl_us" in r for r in run["rows"])
    head = "| bytes | type | nvrar oop (us) | busbw (GB/s) | #wrong | nvrar in-place (us) | #wrong |"
    rule = "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
    if has_nccl:
        head += " NCCL oop (us) | NCCL in-place (us) | speed-up oop |"
        rule += " ---: | ---: | ---: |"
    print(head)
    print(rule)
    for r in run["rows"]:
        line = "| %d | %s | %.2f | %.1f | %d | %.2f | %d |" % (
            r["bytes"], r["dtype"], r["time_us"], r["busbw"], r["wrong"], r["inplace_time_us"], r["inplace_wrong"])
        if has_nccl:
            line += " %.2f | %.2f | %.2fx |" % (r["nccl_us"], r["nccl_inplace_us"], r["nccl_us"] / r["time_us"])
        print(line)


if __name__ == "__main__":
    {"compare": compare, "sweep": sweep, "algos": algos, "markdown": markdown}[sys.argv[1]](sys.argv[2])
