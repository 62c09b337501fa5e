"""nvrar's Python path against torch.distributed.all_reduce (NCCL) and torch symmetric memory's
one-shot / two-shot, bf16, 1 KiB - 64 MiB, in a CUDA graph and eager; plus the host time one eager
call costs (nvrar.Communicator.all_reduce vs dist.all_reduce). One process per GPU:

    torchrun --nproc_per_node=4 bench/compare_torch.py --out results_dir [--nvrar-perf nvrar_perf.json]

Writes compare_torch_w{N}.json and .md (and .png when matplotlib is there) into --out. With
--nvrar-perf (an `nvrar_perf -J` file of the same machine, graph mode) the table also shows how far
the Python path is from the C benchmark. Every method's result is checked once per size (exact data,
poisoned output); a wrong one is reported in the table, never timed silently.
"""
import argparse
import json
import os

import torch
import torch.distributed as dist

import nvrar
from torch_timing import eager_us, graph_us, host_us, mean, pyplot, slowest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=".")
    ap.add_argument("--min", default="1KiB")
    ap.add_argument("--max", default="64MiB")
    ap.add_argument("--nvrar-perf", help="nvrar_perf -J file (graph mode) to compare the Python path with")
    args = ap.parse_args()
    local = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local)
    dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, world = dist.get_rank(), dist.get_world_size()
    comm = nvrar.Communicator()
    symm = None
    try:
        import torch.distributed._symmetric_memory as symm_mem
        symm, gname = symm_mem, dist.group.WORLD.group_name
    except Exception as err:  # noqa: BLE001
        if rank == 0:
            print(f"torch symmetric memory unavailable: {err}")
    lo, hi = nvrar.parse_size(args.min), nvrar.parse_size(args.max)
    sizes = [1 << k for k in range(20 * 4) if lo <= (1 << k) <= hi]
    dt = torch.bfloat16
    gen = torch.Generator(device="cpu").manual_seed(77 + rank)
    rows = []
    for nb in sizes:
        n = nb // 2
        src = (torch.randint(-32, 33, (n,), generator=gen).float() / 4).to(dt).cuda()
        expect = src.clone()
        dist.all_reduce(expect)
        row = {"bytes": nb}
        methods = {}
        x = torch.empty_like(src)
        methods["nvrar"] = (lambda: comm.all_reduce(x), lambda: x.copy_(src), lambda: x)
        methods["nccl"] = (lambda: dist.all_reduce(x), lambda: x.copy_(src), lambda: x)
        if symm is not None:
            t1 = symm.empty(n, dtype=dt, device="cuda")
            symm.rendezvous(t1, group=gname)
            box = [None]

            def one_shot():
                box[0] = torch.ops.symm_mem.one_shot_all_reduce(t1, "sum", gname)
            methods["symm_one_shot"] = (one_shot, lambda: t1.copy_(src), lambda: box[0])
            t2 = symm.empty(n, dtype=dt, device="cuda")
            symm.rendezvous(t2, group=gname)
            methods["symm_two_shot"] = (lambda: torch.ops.symm_mem.two_shot_all_reduce_(t2, "sum", gname),
                                        lambda: t2.copy_(src), lambda: t2)
        for name, (call, reset, result) in methods.items():
            try:
                reset()
                call()
                torch.cuda.synchronize()
                ok = bool(torch.equal(result(), expect))
                row[f"{name}_ok"] = slowest(0.0 if ok else 1.0) == 0.0
                row[f"{name}_graph_us"] = mean(graph_us(call))
                row[f"{name}_eager_us"] = mean(eager_us(call))
            except Exception as err:  # noqa: BLE001  (a method that cannot run is reported, not fatal)
                row[f"{name}_err"] = f"{type(err).__name__}: {err}"[:160]
        if nb in (1024, 1 << 20):
            row["nvrar_host_us"] = slowest(host_us(methods["nvrar"][0]))
            row["nccl_host_us"] = slowest(host_us(methods["nccl"][0]))
        rows.append(row)
        if rank == 0:
            print(json.dumps(row), flush=True)
    comm.close()
    if rank == 0:
        write(rows, world, args)
    dist.destroy_process_group()


def write(rows, world, args):
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"compare_torch_w{world}")
    json.dump(rows, open(base + ".json", "w"), indent=1)
    perf = {}
    if args.nvrar_perf:
        perf = {r["bytes"]: r["time_us"] for r in json.load(open(args.nvrar_perf))["rows"]}
    cols = ["nvrar", "nccl", "symm_one_shot", "symm_two_shot"]

    def cell(r, m, mode):
        if f"{m}_err" in r:
            return "error"
        v = r.get(f"{m}_{mode}_us")
        return "" if v is None else f"{v:.2f}" + ("" if r.get(f"{m}_ok", True) else " WRONG")
    lines = [f"bf16, {world} GPUs, us per call, mean over ranks as nvrar_perf (graph: 20 calls captured, 20 replays "
             "back to back, median of 5 such runs, in place).", ""]
    head = "| bytes | " + " | ".join(f"{m} graph" for m in cols) + " | nccl / nvrar (graph) |"
    head += " nvrar_perf graph | Python / C |" if perf else ""
    head += " " + " | ".join(f"{m} eager" for m in cols[:2]) + " |"
    lines += [head, "|" + " ---: |" * (head.count("|") - 1)]
    for r in rows:
        s = f"| {r['bytes']} | " + " | ".join(cell(r, m, "graph") for m in cols)
        speed = r.get("nccl_graph_us", 0) / r["nvrar_graph_us"] if r.get("nvrar_graph_us") else 0
        s += f" | {speed:.2f}x |"
        if perf:
            c = perf.get(r["bytes"])
            s += f" {c:.2f} | {r['nvrar_graph_us'] / c:.3f} |" if c and r.get("nvrar_graph_us") else " | |"
        s += " " + " | ".join(cell(r, m, "eager") for m in cols[:2]) + " |"
        lines.append(s)
    host = [r for r in rows if "nvrar_host_us" in r]
    if host:
        lines += ["", "Host time to enqueue one eager call (us, median of 5 x 200 calls, slowest rank):", "",
                  "| bytes | nvrar.Communicator.all_reduce | torch.distributed.all_reduce |", "| ---: | ---: | ---: |"]
        lines += [f"| {r['bytes']} | {r['nvrar_host_us']:.2f} | {r['nccl_host_us']:.2f} |" for r in host]
    open(base + ".md", "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for m in cols:
        pts = [(r["bytes"], r[f"{m}_graph_us"]) for r in rows if f"{m}_graph_us" in r]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=f"{m} (graph)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("bytes (bf16)")
    ax.set_ylabel("us per all-reduce")
    ax.set_title(f"all-reduce on {world} GPUs, CUDA graph")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(base + ".png", dpi=120, bbox_inches="tight")
    print(f"plot: {base}.png")


if __name__ == "__main__":
    main()
