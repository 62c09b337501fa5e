"""The tuner: times every launch configuration of the grid per message size on the real machine,
checks each one's result against NCCL's, prints the top k per size and writes the best per size
into the tuned file of this world size and dtype (docs/tuning.md), which nvrar_comm_init and
resolve_params() then read. One process per GPU:

    torchrun --nproc_per_node=4 -m nvrar.tune --sizes 64KiB,1MiB,8MiB --dtype float32 --output tune_results.json
    torchrun --nproc_per_node=4 tuning/benchmark_tune_allreduce_preallocated.py --size 1048576 --dtype float32 \\
        --num-blocks 4,8,16,32 --threads-per-block 128,256,512 --chunk-bytes 16384,32768,65536 --topk 10

Inputs live in symmetric memory (Communicator.allocate_tensor: the preallocated path). Each
configuration is installed with Communicator.set_params on every rank, checked once against
torch.distributed.all_reduce (bitwise, exactly representable data), then timed as `iterations`
all-reduces captured in one CUDA graph, replayed 3 times after a warm-up: time per call, the
slowest rank's, median of the replays.
"""
import argparse
import itertools
import json
import math
import os
import sys

from .sizes import parse_size

from . import _native

# From the library's table of algorithms: within one node (NVLink pointers), or any layout
# (the put-with-signal family)
ONE_NODE_ALGOS = [name for name, multinode in _native.algorithms()[1:] if not multinode]
MULTI_NODE_ALGOS = [name for name, multinode in _native.algorithms() if multinode]
RING_FAMILY = set(MULTI_NODE_ALGOS)


def _int_list(lo, hi, multiple=1, zero_ok=True):
    def parse(text):
        try:
            values = [int(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
        for v in values:
            if not ((zero_ok and v == 0) or (lo <= v <= hi and v % multiple == 0)):
                want = f"{lo}-{hi}" + (f", a multiple of {multiple}" if multiple > 1 else "")
                raise argparse.ArgumentTypeError(f"{v} is not {'0 or ' if zero_ok else ''}{want}")
        if not values:
            raise argparse.ArgumentTypeError("the list is empty")
        return values
    return parse


def _size_list(text):
    try:
        sizes = [parse_size(t.strip()) for t in text.split(",") if t.strip()]
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be at least 1 byte")
    return sizes


def _size(text):
    if "," in text:
        raise argparse.ArgumentTypeError("--size takes one size; use --sizes for a list")
    return _size_list(text)[0]


def _algo_list(text):
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in ONE_NODE_ALGOS + MULTI_NODE_ALGOS + ["auto"]]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown algorithm(s) {bad}: use auto, {', '.join(ONE_NODE_ALGOS + MULTI_NODE_ALGOS)}")
    return names


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m nvrar.tune", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--size", type=_size, help="one message size in bytes (tokens like 1MiB too)")
    which.add_argument("--sizes", type=_size_list, help="comma-separated sizes, e.g. 64KiB,1MiB,8MiB")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    p.add_argument("--algorithms", type=_algo_list, default=None,
                   help="default: oneshot,twoshot on one node; ring,simple-ring,hier-rd,hier-rhd across nodes")
    p.add_argument("--num-blocks", type=_int_list(1, 128), default=[0], help="0: the planner's choice")
    p.add_argument("--threads-per-block", type=_int_list(64, 512, 32), default=[0], help="0: the planner's choice")
    p.add_argument("--chunk-bytes", type=_int_list(16, 1 << 40, 16), default=[0],
                   help="ring family only (others ignore it); 0: the planner's choice")
    p.add_argument("--iterations", type=int, default=50, help="all-reduces per timed graph")
    p.add_argument("--warmup", type=int, default=10, help="untimed all-reduces before timing")
    p.add_argument("--topk", type=int, default=10, help="configurations printed per size")
    p.add_argument("--output", help="write every measurement to this JSON file (rank 0)")
    p.add_argument("--no-cache", action="store_true", help="do not write the best per size into the tuned file")
    args = p.parse_args(argv)
    for name in ("iterations", "warmup", "topk"):
        if getattr(args, name) < (1 if name != "warmup" else 0):
            p.error(f"--{name} must be at least {1 if name != 'warmup' else 0}")
    args.sizes = [args.size] if args.size is not None else args.sizes
    return args


def configurations(algos, blocks, threads, chunks):
    """Every (algorithm, blocks, threads, chunk) of the grid; chunk only varies for the ring family."""
    seen, out = set(), []
    for a, b, t, c in itertools.product(algos, blocks, threads, chunks):
        cfg = (a, b, t, c if a in RING_FAMILY else 0)
        if cfg not in seen:
            seen.add(cfg)
            out.append(cfg)
    return out


def main(argv=None):
    args = parse_args(argv)
    import torch
    import torch.distributed as dist
    import nvrar

    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, world = dist.get_rank(), dist.get_world_size()
    dtype = getattr(torch, args.dtype)
    comm = nvrar.Communicator()
    nodes = world // comm.local_size
    algos = args.algorithms or (ONE_NODE_ALGOS if nodes == 1 else MULTI_NODE_ALGOS)
    if nodes > 1 and any(a in ONE_NODE_ALGOS for a in algos):
        if rank == 0:
            print(f"nvrar.tune: {', '.join(a for a in algos if a in ONE_NODE_ALGOS)} run within one node; "
                  f"this job spans {nodes} nodes", file=sys.stderr)
        return 2
    configs = configurations(algos, args.num_blocks, args.threads_per_block, args.chunk_bytes)
    say = (lambda *a, **k: print(*a, **k, flush=True)) if rank == 0 else (lambda *a, **k: None)
    say(f"nvrar.tune: {world} ranks ({nodes} node{'s' if nodes > 1 else ''}), {args.dtype}, "
        f"{len(args.sizes)} size(s) x {len(configs)} configurations, {args.iterations} calls per graph")
    gen = torch.Generator(device="cpu").manual_seed(1234 + rank)
    results, best, wrong_any = {}, {}, False
    for si, size in enumerate(args.sizes):
        esize = torch.empty((), dtype=dtype).element_size()
        n = max(size // esize, 1)
        x = comm.allocate_tensor((n,), dtype)
        x.copy_((torch.randint(-32, 33, (n,), generator=gen).float() / 4).to(dtype))
        expect = x.clone()
        dist.all_reduce(expect)
        out = torch.empty_like(expect)
        rows = []
        for ci, (algo, blocks, threads, chunk) in enumerate(configs):
            params = {"algorithm": algo, "num_blocks": blocks, "threads_per_block": threads, "chunk_bytes": chunk}
            label = f"{algo} b={blocks or 'auto'} t={threads or 'auto'}" + (f" c={chunk}" if algo in RING_FAMILY else "")
            comm.set_params(dtype, {0: params})
            ms, ok, error = math.inf, False, ""
            try:
                out.fill_(float("nan"))
                comm.all_reduce(x, out=out)
                torch.cuda.synchronize()
                ok = torch.equal(out, expect)
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(args.warmup):
                        comm.all_reduce(x, out=out)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    for _ in range(args.iterations):
                        comm.all_reduce(x, out=out)
                graph.replay()
                times = []
                for _ in range(3):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    graph.replay()
                    end.record()
                    end.synchronize()
                    times.append(start.elapsed_time(end) / args.iterations)
                ms = sorted(times)[1]
                del graph
            except nvrar.NvrarError as err:
                error = err.message
            agree = torch.tensor([ms, 0.0 if ok else 1.0], device=f"cuda:{local}")
            dist.all_reduce(agree, op=dist.ReduceOp.MAX)
            ms, ok = float(agree[0]), float(agree[1]) == 0.0
            if not ok and not error:
                wrong_any = True
                say(f"\n  WRONG RESULT: {label} at {size} bytes differs from NCCL (an nvrar bug: please report)")
            rows.append({**params, "avg_time_ms": ms if ok else None, "ok": ok, "error": error, "label": label})
            outcome = f"{ms * 1000:9.2f} us" if ok else "failed: " + (error or "wrong result")[:60]
            say(f"\r  [{si + 1}/{len(args.sizes)} {size} B] {ci + 1}/{len(configs)} {label:40s} {outcome}", end="")
        comm.free(x)
        say("")
        good = sorted((r for r in rows if r["ok"]), key=lambda r: r["avg_time_ms"])
        results[size] = rows
        say(f"  {size} bytes: top {min(args.topk, len(good))} of {len(good)} correct configurations")
        for k, r in enumerate(good[:args.topk]):
            say(f"    {k + 1:2d}. {r['label']:40s} {r['avg_time_ms'] * 1000:9.2f} us")
        if good:
            best[size] = {k: good[0][k] for k in ("algorithm", "num_blocks", "threads_per_block", "chunk_bytes",
                                                  "avg_time_ms")}
    comm.set_params(dtype, {})
    if rank == 0:
        if not args.no_cache and best:
            try:
                table = nvrar.resolve_params(world, args.dtype)
            except Exception:  # noqa: BLE001  (an unreadable old file is replaced)
                table = {}
            table.update(best)
            path = nvrar.write_tuned(world, args.dtype, table)
            print(f"nvrar.tune: best per size written to {path}; resolve_params({world}, {args.dtype!r}) now gives:")
            for size, params in nvrar.resolve_params(world, args.dtype).items():
                print(f"    {size:>10d}: {params}")
        if args.output:
            with open(args.output, "w") as f:
                json.dump({"world_size": world, "nodes": nodes, "dtype": args.dtype, "best": best,
                           "results": {str(k): v for k, v in results.items()}}, f, indent=1)
            print(f"nvrar.tune: all measurements in {args.output}")
    dist.barrier()
    comm.close()
    dist.destroy_process_group()
    return 1 if wrong_any else 0


if __name__ == "__main__":
    sys.exit(main())
