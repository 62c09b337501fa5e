"""The NCCL drop-in loaded by path with ctypes, the way vLLM's and SGLang's pynccl wrappers load
VLLM_NCCL_SO_PATH / SGLANG_NCCL_SO_PATH, one process per GPU:

    NVRAR_DEBUG=INFO torchrun --nproc_per_node=2 python/tests/gpu/nccl_ctypes_check.py build/lib/libnvrar_nccl.so

Checks that every function those wrappers bind is there, that ncclGetVersion is the real NCCL's, and
then what they do: rank 0's ncclGetUniqueId broadcast over a CPU (gloo) group, ncclCommInitRank on
the current device, a one-element all-reduce right after init, all-reduces out of place (vLLM) and in
place (SGLang) on the current stream, and the same captured in a CUDA graph (torch.cuda.graph) and
replayed on new data. Every result is compared bitwise with torch.distributed.all_reduce through
torch's own NCCL. With NVRAR_DEBUG=INFO the log shows which calls nvrar served. Exits 1 on a failure.
"""
import ctypes
import os
import sys

import torch
import torch.distributed as dist

# What vLLM's and SGLang's pynccl wrappers require of the library (their function lists).
FUNCTIONS = ["ncclGetErrorString", "ncclGetVersion", "ncclGetUniqueId", "ncclCommInitRank", "ncclAllReduce",
             "ncclAllGather", "ncclReduceScatter", "ncclReduce", "ncclBroadcast", "ncclSend", "ncclRecv",
             "ncclGroupStart", "ncclGroupEnd", "ncclCommDestroy", "ncclCommAbort"]
DTYPES = {torch.float32: 7, torch.float16: 6, torch.bfloat16: 9}  # ncclDataType_t
OPS = {"sum": (0, dist.ReduceOp.SUM), "max": (2, dist.ReduceOp.MAX), "min": (3, dist.ReduceOp.MIN)}

failures = []


class UniqueId(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_byte * 128)]


def check(name, ok, detail=""):
    if not ok:
        failures.append(name)
    if dist.get_rank() == 0 or not ok:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}", flush=True)


def bind(path):
    lib = ctypes.CDLL(path)
    missing = [f for f in FUNCTIONS if not hasattr(lib, f)]
    c = ctypes
    sig = {"ncclGetErrorString": (c.c_char_p, [c.c_int]), "ncclGetVersion": (c.c_int, [c.POINTER(c.c_int)]),
           "ncclGetUniqueId": (c.c_int, [c.POINTER(UniqueId)]),
           "ncclCommInitRank": (c.c_int, [c.POINTER(c.c_void_p), c.c_int, UniqueId, c.c_int]),
           "ncclAllReduce": (c.c_int, [c.c_void_p, c.c_void_p, c.c_size_t, c.c_int, c.c_int, c.c_void_p, c.c_void_p]),
           "ncclCommDestroy": (c.c_int, [c.c_void_p])}
    for name, (res, args) in sig.items():
        getattr(lib, name).restype, getattr(lib, name).argtypes = res, args
    return lib, missing


def nccl_ok(lib, result, what):
    if result != 0:
        raise RuntimeError(f"{what}: {lib.ncclGetErrorString(result).decode()}")


def data(n, dtype, rank, seed):
    g = torch.Generator(device="cpu").manual_seed(seed * 1000 + rank)
    return (torch.randint(-16, 17, (n,), generator=g).to(torch.float32) / 4).to(dtype).cuda()


def main():
    local = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local)
    dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, world = dist.get_rank(), dist.get_world_size()
    cpu_group = dist.new_group(backend="gloo")
    lib, missing = bind(sys.argv[1])
    check(f"the {len(FUNCTIONS)} functions vLLM and SGLang bind are exported", not missing, f"missing {missing}")
    version = ctypes.c_int()
    nccl_ok(lib, lib.ncclGetVersion(ctypes.byref(version)), "ncclGetVersion")
    check("ncclGetVersion is the real NCCL's", version.value == torch.cuda.nccl.version()[0] * 10000 +
          torch.cuda.nccl.version()[1] * 100 + torch.cuda.nccl.version()[2], f"{version.value}")
    uid = UniqueId()
    if rank == 0:
        nccl_ok(lib, lib.ncclGetUniqueId(ctypes.byref(uid)), "ncclGetUniqueId")
    box = [bytes(uid.internal)]
    dist.broadcast_object_list(box, src=0, group=cpu_group)
    ctypes.memmove(ctypes.addressof(uid), box[0], 128)
    comm = ctypes.c_void_p()
    nccl_ok(lib, lib.ncclCommInitRank(ctypes.byref(comm), world, uid, rank), "ncclCommInitRank")
    stream = torch.cuda.current_stream()

    def all_reduce(x, out, op="sum"):
        nccl_ok(lib, lib.ncclAllReduce(x.data_ptr(), out.data_ptr(), x.numel(), DTYPES[x.dtype], OPS[op][0], comm,
                                       stream.cuda_stream), "ncclAllReduce")

    warm = torch.ones(1, device="cuda")  # vLLM: one element right after init
    all_reduce(warm, warm)
    stream.synchronize()
    check("one-element all-reduce right after init", warm.item() == world)

    seed = 0
    for dtype in DTYPES:
        for op, (_, torch_op) in OPS.items():
            bad = []
            for n in (1, 7, 1000, 4097, 65537, (1 << 20) + 3, 4 << 20):
                seed += 1
                x = data(n, dtype, rank, seed)
                ref = x.clone()
                dist.all_reduce(ref, op=torch_op)  # torch's own NCCL
                out = torch.full_like(x, float("nan"))
                all_reduce(x, out, op)   # out of place (vLLM)
                y = x.clone()
                all_reduce(y, y, op)     # in place (SGLang)
                torch.cuda.synchronize()
                if not torch.equal(out, ref) or not torch.equal(y, ref):
                    bad.append(n)
            check(f"{str(dtype)[6:]:8s} {op}: out of place and in place == torch's NCCL at 7 sizes", not bad,
                  f"differs at {bad}" if bad else "")

    # CUDA graph: captured once on the capture stream, replayed on new data
    xs = [data(n, torch.bfloat16, rank, 900 + i) for i, n in enumerate((2048, 300000, 3 << 20))]
    outs = [torch.empty_like(x) for x in xs]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for x, o in zip(xs, outs):
            stream = torch.cuda.current_stream()
            all_reduce(x, o)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        stream = torch.cuda.current_stream()
        for x, o in zip(xs, outs):
            all_reduce(x, o)
    stream = torch.cuda.current_stream()
    wrong = 0
    for replay in range(20):
        for i, x in enumerate(xs):
            x.copy_(data(x.numel(), torch.bfloat16, rank, 1000 + 10 * replay + i))
            outs[i].fill_(float("nan"))
        graph.replay()
        for i, x in enumerate(xs):
            ref = x.clone()
            dist.all_reduce(ref)
            wrong += int(not torch.equal(outs[i], ref))
    torch.cuda.synchronize()
    check("CUDA graph of 3 all-reduces, 20 replays on new data == torch's NCCL", wrong == 0, f"{wrong} wrong")
    nccl_ok(lib, lib.ncclCommDestroy(comm), "ncclCommDestroy")
    failed = torch.tensor([len(failures)], device="cuda")
    dist.all_reduce(failed)
    if rank == 0:
        print(f"nccl_ctypes_check: {world} ranks, NCCL {version.value}: "
              f"{'all checks passed' if failed.item() == 0 else 'FAILED'}", flush=True)
    dist.destroy_process_group()
    sys.exit(1 if failed.item() else 0)


if __name__ == "__main__":
    main()
