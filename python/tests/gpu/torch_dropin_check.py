"""torch.distributed through the NCCL drop-in: run once with LD_PRELOAD=libnvrar_nccl.so and once
without, one process per GPU, and compare the digests (tests/torch_dropin.sh does both):

    LD_PRELOAD=build/lib/libnvrar_nccl.so NVRAR_DEBUG=INFO torchrun --nproc_per_node=2 \\
        python/tests/gpu/torch_dropin_check.py --digests DIR/preload

dist.all_reduce of every dtype torch's NCCL backend takes (bool and the float8 types aside) x
sum/max/min/avg/product at several sizes, in and out of a CUDA graph, on the world and on two
new_group sub-groups (half the ranks, all of them), checked against the exact result (small integers: every partial sum exact), with
the digest of every result written to PREFIX.rankR. Exits 1 on a wrong result.
"""
import argparse
import hashlib
import os
import sys

import torch
import torch.distributed as dist

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int32, torch.int64, torch.int8,
          torch.uint8]
OPS = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN, "avg": dist.ReduceOp.AVG,
       "product": dist.ReduceOp.PRODUCT}


def values(n, dtype, op, rank, seed):
    """Small integers whose sums and products over up to 4 ranks are exact in every dtype; avg's are
    the same on every rank, so the mean is exact too."""
    g = torch.Generator().manual_seed(seed * 1000 + (0 if op == "avg" else rank + 1))
    if op == "product":
        v = torch.tensor([-1, 1, 2])[torch.randint(0, 3, (n,), generator=g)]
    else:
        v = torch.randint(-2, 3, (n,), generator=g)
    return v.abs() if dtype == torch.uint8 else v


def expected(n, dtype, op, members, seed):
    vals = torch.stack([values(n, dtype, op, r, seed).double() for r in members])
    ref = {"sum": vals.sum(0), "max": vals.max(0).values, "min": vals.min(0).values, "avg": vals.mean(0),
           "product": vals.prod(0)}[op]
    return ref.to(dtype)


def digest(t):
    return hashlib.sha1(t.cpu().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--digests", required=True, help="prefix of the per-rank digest files")
    args = ap.parse_args()
    local = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local)
    dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, world = dist.get_rank(), dist.get_world_size()
    out = open(f"{args.digests}.rank{rank}", "w")
    wrong = []

    def run(name, group, members, dtype, op, n, seed, graph=False):
        x = values(n, dtype, op, rank, seed).to(dtype).cuda()
        if graph:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                warm = x.clone()
                dist.all_reduce(warm, op=OPS[op], group=group)
            torch.cuda.current_stream().wait_stream(side)
            g = torch.cuda.CUDAGraph()
            y = x.clone()
            with torch.cuda.graph(g):
                dist.all_reduce(y, op=OPS[op], group=group)
            y.copy_(x)
            g.replay()
            x = y
        else:
            dist.all_reduce(x, op=OPS[op], group=group)
        torch.cuda.synchronize()
        ok = torch.equal(x.cpu(), expected(n, dtype, op, members, seed))
        if not ok:
            wrong.append(name)
        out.write(f"{name} {digest(x)} {'ok' if ok else 'WRONG'}\n")

    seed = 0
    everyone = list(range(world))
    for dtype in DTYPES:
        for op in OPS:
            if op == "avg" and (not dtype.is_floating_point or world & (world - 1)):
                continue  # NCCL's avg of integers truncates; of floats is exact only for 2^k ranks
            for n in (1, 1000, 65537, (1 << 20) + 3):
                seed += 1
                run(f"world.{str(dtype)[6:]}.{op}.{n}", None, everyone, dtype, op, n, seed)
    for i, (dtype, n) in enumerate([(torch.bfloat16, 4096), (torch.float32, 300000), (torch.float16, (1 << 21) + 1),
                                    (torch.int32, 5000)]):
        run(f"graph.{str(dtype)[6:]}.sum.{n}", None, everyone, dtype, "sum", n, 500 + i, graph=True)
    # sub-groups: the first ceil(world/2) ranks (only its members create its communicator), and all
    # ranks again; with the drop-in both are inside the NVSHMEM world of the default group's
    for label, sub_ranks in (("half", list(range((world + 1) // 2))), ("all", everyone)):
        sub = dist.new_group(sub_ranks)
        if rank in sub_ranks:
            for i, (dtype, n) in enumerate([(torch.bfloat16, 8192), (torch.float32, (1 << 20) + 1)]):
                run(f"subgroup_{label}.{str(dtype)[6:]}.sum.{n}", sub, sub_ranks, dtype, "sum", n, 600 + i)
            run(f"subgroup_{label}.graph.bfloat16.sum", sub, sub_ranks, torch.bfloat16, "sum", 4096, 650, graph=True)
    out.close()
    failed = torch.tensor([len(wrong)], device="cuda")
    dist.all_reduce(failed)
    if wrong:
        print(f"rank {rank}: wrong: {wrong[:10]}", flush=True)
    if rank == 0:
        print(f"torch_dropin_check: {world} ranks, LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}: "
              f"{'all results exact' if failed.item() == 0 else 'WRONG results'}", flush=True)
    dist.destroy_process_group()
    sys.exit(1 if failed.item() else 0)


if __name__ == "__main__":
    main()
