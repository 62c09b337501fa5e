"""torch.distributed.all_reduce with and without the NCCL drop-in, bf16, 1 KiB - 64 MiB, in a CUDA graph
and eager, timed as nvrar_perf times (bench/torch_timing.py). One run per side, then the table:

    torchrun --nproc_per_node=4 bench/dropin_torch.py --label nccl --out DIR
    LD_PRELOAD=build/lib/libnvrar_nccl.so torchrun --nproc_per_node=4 bench/dropin_torch.py --label dropin --out DIR
    python3 bench/dropin_torch.py --table DIR/dropin_torch_nccl_w4.json DIR/dropin_torch_dropin_w4.json

Each run checks every size's result once against the exact sum (quarters, every partial sum exact),
on a poisoned output, before timing it; a wrong result is reported, never timed silently.
"""
import argparse
import json
import os
import sys


def measure(args):
    import torch
    import torch.distributed as dist
    from torch_timing import eager_us, graph_us, host_us, mean, slowest

    local = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local)
    torch.zeros(1, device="cuda")  # the CUDA context exists before the count starts
    torch.cuda.synchronize()
    free_before = torch.cuda.mem_get_info()[0]
    dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, world = dist.get_rank(), dist.get_world_size()
    first = torch.ones(1024, dtype=torch.bfloat16, device="cuda")
    dist.all_reduce(first)  # NCCL, or the drop-in with nvrar, sets up at the latest here
    torch.cuda.synchronize()
    init_mib = slowest((free_before - torch.cuda.mem_get_info()[0]) / 2**20)
    preload = os.environ.get("LD_PRELOAD", "")
    rows = []
    nbytes = 1024
    while nbytes <= args.max_bytes:
        n = nbytes // 2
        values = [torch.randint(-16, 17, (n,), generator=torch.Generator().manual_seed(7 * nbytes + r)) for r in range(world)]
        src = (values[rank].float() / 4).to(torch.bfloat16).cuda()
        expect = (sum(v.float() for v in values) / 4).to(torch.bfloat16).cuda()
        x = torch.full_like(src, float("nan"))
        x.copy_(src)
        dist.all_reduce(x)
        torch.cuda.synchronize()
        ok = slowest(0.0 if torch.equal(x, expect) else 1.0) == 0.0
        row = {"bytes": nbytes, "ok": ok,
               "graph_us": mean(graph_us(lambda: dist.all_reduce(x))),
               "eager_us": mean(eager_us(lambda: dist.all_reduce(x)))}
        if nbytes in (1024, 1 << 20):  # what one eager call costs the host, slowest rank
            row["host_us"] = slowest(host_us(lambda: dist.all_reduce(x)))
        rows.append(row)
        if rank == 0:
            print(json.dumps(row), flush=True)
        nbytes *= 2
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, f"dropin_torch_{args.label}_w{world}.json")
        json.dump({"label": args.label, "world": world, "ld_preload": preload, "torch": torch.__version__,
                   "init_mib": init_mib, "rows": rows}, open(path, "w"), indent=1)
        print(f"wrote {path}")
    dist.destroy_process_group()


def table(nccl_path, dropin_path):
    nccl, dropin = json.load(open(nccl_path)), json.load(open(dropin_path))
    by_size = {r["bytes"]: r for r in dropin["rows"]}
    lines = [f"torch.distributed.all_reduce, bf16, {nccl['world']} GPUs, us per call (mean over ranks; graph: 20 calls "
             "captured, 20 replays back to back, median of 5). NCCL: plain; drop-in: LD_PRELOAD=libnvrar_nccl.so.", "",
             "| bytes | NCCL graph | drop-in graph | speed-up | NCCL eager | drop-in eager | speed-up |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    worst_small, worst_any = None, None
    for r in nccl["rows"]:
        d = by_size.get(r["bytes"])
        if not d:
            continue
        flag = "" if r["ok"] and d["ok"] else " WRONG"
        g, e = r["graph_us"] / d["graph_us"], r["eager_us"] / d["eager_us"]
        lines.append(f"| {r['bytes']} | {r['graph_us']:.2f} | {d['graph_us']:.2f}{flag} | {g:.2f}x | {r['eager_us']:.2f} "
                     f"| {d['eager_us']:.2f} | {e:.2f}x |")
        if r["bytes"] <= 1 << 20:
            worst_small = g if worst_small is None else min(worst_small, g)
        worst_any = g if worst_any is None else min(worst_any, g)
    lines += ["", f"Graph: slowest speed-up up to 1 MiB {worst_small:.2f}x (target 1.5x); at any size {worst_any:.2f}x "
                  f"(target: no slower than NCCL by more than 3%, i.e. >= 0.97x)."]
    host = [(r["bytes"], r["host_us"], by_size[r["bytes"]].get("host_us")) for r in nccl["rows"]
            if "host_us" in r and by_size.get(r["bytes"], {}).get("host_us")]
    if host:
        lines += ["", "Host time to enqueue one eager dist.all_reduce (us, median of 5 x 200 calls, slowest rank):", "",
                  "| bytes | NCCL | drop-in |", "| ---: | ---: | ---: |"]
        lines += [f"| {b} | {n:.2f} | {d:.2f} |" for b, n, d in host]
    if "init_mib" in nccl and "init_mib" in dropin:
        extra = dropin["init_mib"] - nccl["init_mib"]
        lines += ["", f"Device memory taken by the process group's init and first all-reduce (largest rank): NCCL "
                      f"{nccl['init_mib']:.0f} MiB, drop-in {dropin['init_mib']:.0f} MiB: {extra:.0f} MiB beyond plain "
                      f"NCCL (target <= 128)."]
    print("\n".join(lines))
    return 0 if all(r["ok"] for r in nccl["rows"] + dropin["rows"]) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--label", default="nccl")
    ap.add_argument("--out", default=".")
    ap.add_argument("--max-bytes", type=int, default=64 << 20)
    ap.add_argument("--table", nargs=2, metavar=("NCCL_JSON", "DROPIN_JSON"), help="print the comparison table")
    args = ap.parse_args()
    if args.table:
        sys.exit(table(*args.table))
    measure(args)


if __name__ == "__main__":
    main()
