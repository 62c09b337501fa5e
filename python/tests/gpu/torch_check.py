"""nvrar.Communicator against torch.distributed (NCCL) on the GPU machine, one process per GPU:

    torchrun --nproc_per_node=4 python/tests/gpu/torch_check.py

Every dtype and op, in and out of place, odd sizes: results bitwise equal to NCCL's on exactly
representable data (quarters, |k| <= 32: every partial sum exact in any order); zero-copy tensors
from allocate_tensor; the argument errors; a captured CUDA graph replayed with new data each time;
the torch ops nvrar::all_reduce_ and nvrar::all_reduce_add_rmsnorm_ under opcheck, torch.compile
(fullgraph) and graph capture; a fork after init (the child's copy refuses to be used).
Prints one line per check and exits 1 if any failed.

With NVRAR_SHARE_GPUS=1 and more ranks than GPUs (rank r on GPU r % GPUs; NCCL refuses two ranks on
one GPU) the process group is gloo and the reference is the same all-reduce over gloo on the CPU in
float64 (exact on this data, then rounded once to the dtype, as nvrar does)."""
import os
import sys

import torch
import torch.distributed as dist

import nvrar

failures = []


def check(name, ok, detail=""):
    if not ok:
        failures.append(name)
    if dist.get_rank() == 0 or not ok:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}", flush=True)


SHARED = False  # ranks share GPUs: gloo reference


def reference(t, op=dist.ReduceOp.SUM):
    """t all-reduced by torch.distributed, in place: NCCL, or gloo on a float64 CPU copy when ranks share GPUs."""
    if not SHARED:
        dist.all_reduce(t, op=op)
        return t
    cpu = t.detach().to("cpu", torch.float64)
    dist.all_reduce(cpu, op=op)
    t.copy_(cpu.to(t.dtype))
    return t


def data(n, dtype, rank, seed):
    g = torch.Generator(device="cpu").manual_seed(seed * 1000 + rank)
    return (torch.randint(-32, 33, (n,), generator=g).to(torch.float32) / 4).to(dtype).cuda()


def main():
    global SHARED
    local = int(os.environ["LOCAL_RANK"])
    ngpu = torch.cuda.device_count()
    SHARED = os.environ.get("NVRAR_SHARE_GPUS") == "1" and int(os.environ["WORLD_SIZE"]) > ngpu
    local = local % ngpu if SHARED else local
    torch.cuda.set_device(local)
    if SHARED:
        dist.init_process_group("gloo")
    else:
        dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, world = dist.get_rank(), dist.get_world_size()
    comm = nvrar.Communicator()
    if rank == 0:
        print(f"torch_check: {world} ranks, torch {torch.__version__}, nvrar {nvrar.version()} "
              f"({nvrar.library_path()})", flush=True)
    ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
    sizes = [1, 7, 1000, 4097, 65537, (1 << 20) + 3, 4 << 20]
    seed = 0
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for op, nccl_op in ops.items():
            bad = []
            for n in sizes:
                seed += 1
                x = data(n, dtype, rank, seed)
                ref = x.clone()
                reference(ref, op=nccl_op)
                out = torch.full_like(x, float("nan"))
                comm.all_reduce(x, op=op, out=out)
                y = x.clone()
                comm.all_reduce(y, op=op)  # in place
                torch.cuda.synchronize()
                if not torch.equal(out, ref) or not torch.equal(y, ref):
                    bad.append(n)
            check(f"{str(dtype)[6:]:8s} {op}: out of place and in place == NCCL at {len(sizes)} sizes", not bad,
                  f"differs at {bad}" if bad else "")

    # zero-copy tensors in symmetric memory
    t = comm.allocate_tensor((3, 1001), torch.bfloat16)
    check("allocate_tensor shape, dtype, device", t.shape == (3, 1001) and t.dtype == torch.bfloat16 and
          t.device == comm.device and t.is_contiguous())
    t.copy_(data(3 * 1001, torch.bfloat16, rank, 9999).view(3, 1001))
    ref = t.clone()
    reference(ref)
    comm.all_reduce(t)
    torch.cuda.synchronize()
    check("all_reduce of an allocate_tensor tensor == NCCL", torch.equal(t, ref))
    comm.free(t)
    try:
        comm.free(t)
        check("a second free is refused", False)
    except ValueError:
        check("a second free is refused", True)

    # argument errors name the problem
    def raises(exc, fn):
        try:
            fn()
        except exc as e:
            return str(e)
        return None
    x = torch.zeros(16, device=comm.device)
    msg = raises(TypeError, lambda: comm.all_reduce(torch.zeros(16, dtype=torch.int32, device=comm.device)))
    check("int32 tensor: TypeError", msg is not None and "int32" in msg, msg or "")
    msg = raises(ValueError, lambda: comm.all_reduce(torch.zeros(16)))
    check("CPU tensor: ValueError", msg is not None and "cpu" in msg, msg or "")
    msg = raises(ValueError, lambda: comm.all_reduce(torch.zeros(8, 8, device=comm.device).t()))
    check("non-contiguous tensor: ValueError", msg is not None and "contiguous" in msg, msg or "")
    msg = raises(ValueError, lambda: comm.all_reduce(x, out=torch.zeros(15, device=comm.device)))
    check("out of another size: ValueError", msg is not None and "out" in msg, msg or "")
    msg = raises(ValueError, lambda: comm.all_reduce(x, op="prod"))
    check("op 'prod': ValueError", msg is not None and "prod" in msg, msg or "")
    msg = raises(TypeError, lambda: comm.all_reduce([1, 2, 3]))
    check("a list: TypeError", msg is not None, msg or "")

    # fork after init: the child's copy refuses with the fork's reason before any CUDA call and frees
    # nothing (os._exit: no atexit close); the parent's communicator serves every check below
    pid = os.fork()
    if pid == 0:
        try:
            comm.all_reduce(x)
            code = 1
        except RuntimeError as e:
            code = 0 if "forked child" in str(e) else 2
        except BaseException:  # noqa: BLE001 (any other outcome is the check's failure)
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    check("fork after init: the child's copy refuses, the parent's goes on",
          os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child wait status {status}")

    # CUDA graph: capture once, replay with new inputs, check every replay against the sum of all ranks
    n = 12345
    xin = torch.zeros(n, dtype=torch.bfloat16, device=comm.device)
    yout = torch.zeros_like(xin)
    s = torch.cuda.Stream(device=comm.device)
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            comm.all_reduce(xin, out=yout)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        comm.all_reduce(xin, out=yout)
    wrong = 0
    for it in range(50):
        xin.copy_(data(n, torch.bfloat16, rank, 5000 + it))
        graph.replay()
        expect = sum(data(n, torch.bfloat16, r, 5000 + it).float() for r in range(world)).to(torch.bfloat16)
        torch.cuda.synchronize()
        wrong += int((yout != expect).sum())
    check("CUDA graph: 50 replays with new data, every element right", wrong == 0, f"#wrong {wrong}")

    # the torch.library op: opcheck, torch.compile (fullgraph), and a captured graph through it
    from torch.library import opcheck
    x = data(4096, torch.float32, rank, 31)
    try:
        opcheck(torch.ops.nvrar.all_reduce_.default, (x, comm.id, "sum"))
        check("opcheck(nvrar::all_reduce_)", True)
    except Exception as e:  # noqa: BLE001  (report any failure of opcheck's tests)
        check("opcheck(nvrar::all_reduce_)", False, f"{type(e).__name__}: {e}"[:300])

    def step(v):
        w = v * 2
        comm.all_reduce_(w)
        return w + 1
    compiled = torch.compile(step, fullgraph=True)
    x = data(10000, torch.bfloat16, rank, 32)
    ref = x * 2
    reference(ref)
    ref = ref + 1
    try:
        got = compiled(x)
        torch.cuda.synchronize()
        check("torch.compile(fullgraph=True) around nvrar::all_reduce_ == NCCL", torch.equal(got, ref))
    except Exception as e:  # noqa: BLE001
        check("torch.compile(fullgraph=True) around nvrar::all_reduce_ == NCCL", False, f"{type(e).__name__}: {e}"[:300])
    xin2 = torch.zeros(3000, dtype=torch.float16, device=comm.device)
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        comm.all_reduce_(xin2)
    torch.cuda.current_stream().wait_stream(s)
    graph2 = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph2):
        comm.all_reduce_(xin2)
    wrong = 0
    for it in range(20):
        xin2.copy_(data(3000, torch.float16, rank, 6000 + it))
        graph2.replay()
        expect = sum(data(3000, torch.float16, r, 6000 + it).float() for r in range(world)).to(torch.float16)
        torch.cuda.synchronize()
        wrong += int((xin2 != expect).sum())
    check("CUDA graph through nvrar::all_reduce_: 20 replays, every element right", wrong == 0, f"#wrong {wrong}")

    # all-reduce + residual add + RMSNorm: close to a float64 reference (the bitwise check against the
    # C reference is tests/mp/test_rmsnorm), the same bits on every rank, opcheck, a captured graph
    rows, hidden, eps = 4, 4096, 1e-5
    xs = [data(rows * hidden, torch.bfloat16, r, 71).view(rows, hidden) for r in range(world)]
    res0 = data(rows * hidden, torch.bfloat16, 0, 72).view(rows, hidden)
    w = data(hidden, torch.bfloat16, 0, 73) + 1
    x, res = xs[rank].clone(), res0.clone()
    comm.all_reduce_add_rmsnorm(x, res, w, eps)
    torch.cuda.synchronize()
    r64 = (sum(v.double() for v in xs) + res0.double())
    out64 = r64 * torch.rsqrt(r64.pow(2).mean(-1, keepdim=True) + eps) * w.double()
    close = bool(torch.allclose(x.double(), out64, rtol=2e-2, atol=2e-2)) and bool(
        torch.allclose(res.double(), r64, rtol=1e-2, atol=1e-2))
    check("all_reduce_add_rmsnorm close to the float64 reference", close)
    mine = torch.cat([x.flatten(), res.flatten()]).view(torch.int16).to("cpu" if SHARED else x.device).long()
    total = mine.clone()
    dist.all_reduce(total)
    check("all_reduce_add_rmsnorm: the same bits on every rank", torch.equal(total, mine * world))
    try:
        opcheck(torch.ops.nvrar.all_reduce_add_rmsnorm_.default, (xs[rank].clone(), res0.clone(), w, eps, comm.id))
        check("opcheck(nvrar::all_reduce_add_rmsnorm_)", True)
    except Exception as e:  # noqa: BLE001
        check("opcheck(nvrar::all_reduce_add_rmsnorm_)", False, f"{type(e).__name__}: {e}"[:300])

    def fused_step(v, r):  # in place on its inputs (no other kernel to compile: the tier is timed)
        comm.all_reduce_add_rmsnorm_(v, r, w, eps)
    try:
        cx, cres = xs[rank].clone(), res0.clone()
        torch.compile(fused_step, fullgraph=True)(cx, cres)
        torch.cuda.synchronize()
        check("torch.compile(fullgraph=True) around nvrar::all_reduce_add_rmsnorm_ == eager",
              torch.equal(cx, x) and torch.equal(cres, res))
    except Exception as e:  # noqa: BLE001
        check("torch.compile(fullgraph=True) around nvrar::all_reduce_add_rmsnorm_ == eager", False,
              f"{type(e).__name__}: {e}"[:300])
    gx, gres = xs[rank].clone(), res0.clone()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        comm.all_reduce_add_rmsnorm_(gx.clone(), gres.clone(), w, eps)  # warm-up outside the capture
    torch.cuda.current_stream().wait_stream(s)
    graph3 = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph3):
        comm.all_reduce_add_rmsnorm_(gx, gres, w, eps)
    gx.copy_(xs[rank])
    gres.copy_(res0)
    graph3.replay()
    torch.cuda.synchronize()
    check("all_reduce_add_rmsnorm_ from a CUDA graph == eager", torch.equal(gx, x) and torch.equal(gres, res))

    comm.close()
    comm.close()  # idempotent
    check("close() twice is harmless", True)
    with nvrar.Communicator() as comm2:  # a second communicator after close, as a context manager
        z = data(777, torch.float32, rank, 4242)
        ref = z.clone()
        reference(ref)
        comm2.all_reduce(z)
        torch.cuda.synchronize()
        check("a new Communicator after close(), as a context manager", torch.equal(z, ref))
    total = torch.tensor([len(failures)], device="cpu" if SHARED else f"cuda:{local}")
    dist.all_reduce(total)
    fails = int(total.item())
    if rank == 0:
        print(f"torch_check: {world} ranks: {'all checks passed' if fails == 0 else str(fails) + ' failures'}")
    dist.destroy_process_group()
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
