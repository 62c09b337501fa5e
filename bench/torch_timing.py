"""How the torch benchmarks time a collective (bench/compare_torch.py, bench/dropin_torch.py), the way
nvrar_perf does: CUDA events around graph replays or eager calls, ranks lined up first, medians."""
import time

import torch
import torch.distributed as dist


def capture(fn, iters=1, warmup=3):
    """A CUDA graph of `iters` calls of fn, after `warmup` eager calls on a side stream (what capture
    needs first: lazy initialisation, torch.compile's compilation)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(iters):
            fn()
    return g


def replays_us(g, iters, launches):
    """Per call: graph g (of `iters` calls) replayed `launches` times back to back between two events,
    ranks lined up first."""
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    dist.barrier()
    torch.cuda.synchronize()
    a.record()
    for _ in range(launches):
        g.replay()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) * 1000 / (iters * launches)


def graph_us(fn, iters=20, launches=20, reps=5):
    """Like nvrar_perf -n 20 -G 20: a graph of `iters` calls replayed `launches` times back to back
    between two events, ranks lined up once before; the median of `reps` such runs."""
    g = capture(fn, iters)
    g.replay()
    return sorted(replays_us(g, iters, launches) for _ in range(reps))[reps // 2]


def graphs_us(fns, iters=20, launches=20, rounds=11):
    """graph_us for several functions at once, interleaved: each round times every graph once, in an
    order that rotates from round to round, so that a drift of clocks or temperature falls on all
    alike. Returns {name: sorted per-call times of the rounds}; the middle one is the median."""
    graphs = {name: capture(fn, iters) for name, fn in fns.items()}
    names = list(graphs)
    times = {name: [] for name in names}
    for g in graphs.values():
        g.replay()
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(replays_us(graphs[name], iters, launches))
    return {name: sorted(t) for name, t in times.items()}


def eager_us(fn, iters=50, reps=5):
    """`iters` eager calls between two events, ranks lined up first; the median of `reps` such runs."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        dist.barrier()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1000 / iters)
    return sorted(times)[reps // 2]


def host_us(fn, iters=200):
    """Host time to enqueue one call (the CPU cost an eager serving loop pays), median of 5 runs."""
    runs = []
    for _ in range(5):
        torch.cuda.synchronize()
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        runs.append((time.perf_counter() - t0) * 1e6 / iters)
        torch.cuda.synchronize()
    return sorted(runs)[2]


def slowest(value):
    t = torch.tensor([value], dtype=torch.float64, device="cuda")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def mean(value):
    """Mean over ranks: what nvrar_perf reports, so the two compare like for like."""
    t = torch.tensor([value], dtype=torch.float64, device="cuda")
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None (and a line saying so) when it is not installed."""
    try:
        import matplotlib  # noqa: PLC0415  (optional: the tables come without it)
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib is not installed: no PNG")
        return None
    return plt
