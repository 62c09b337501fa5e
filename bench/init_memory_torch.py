"""Device memory of nvrar.Communicator() under torch: `warm` after torch has run kernels of its own
(matmul, softmax, layer norm), as in a serving engine, `cold` before it has run any. The CUDA driver
sets up 64 MiB, once per process, for the first module it loads that imports vprintf (device printf):
torch's kernels (warm), or cold nvrar's module or NVSHMEM's (docs/design.md, "Device memory").

    python3 bench/init_memory_torch.py warm|cold                        # one rank
    NVRAR_SHARE_GPUS=1 torchrun --nproc_per_node=N bench/init_memory_torch.py warm|cold

Under torchrun rank r takes GPU r % GPUs and every rank inits between two barriers; cudaMemGetInfo
sees the whole GPU, so rank 0 prints what its GPU lost and that over the ranks on it.
(NVRAR_DEBUG=INFO NVRAR_DEBUG_SUBSYS=INIT prints init's parts.)"""
import os
import sys

import torch
import torch.distributed as dist

import nvrar

if sys.argv[1:] not in (["warm"], ["cold"]):
    sys.exit(__doc__)
ranks = int(os.environ.get("WORLD_SIZE", "1"))
rank = int(os.environ.get("RANK", "0"))
ngpu = torch.cuda.device_count()
torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % ngpu)
torch.cuda.init()
torch.empty(1, device="cuda")
if sys.argv[1:] == ["warm"]:
    x = torch.randn(2048, 2048, device="cuda", dtype=torch.bfloat16)
    torch.nn.functional.layer_norm(torch.softmax(x @ x, dim=-1), (2048,))
    torch.cuda.synchronize()
if "WORLD_SIZE" in os.environ:
    dist.init_process_group("gloo")
else:
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29561", rank=0, world_size=1)
dist.barrier()
before = torch.cuda.mem_get_info()[0]
dist.barrier()
comm = nvrar.Communicator()
dist.barrier()
after = torch.cuda.mem_get_info()[0]
on_gpu = len(range(rank % ngpu, ranks, ngpu))
taken = (before - after) / 2**20
if rank == 0:
    print(f"torch {sys.argv[1]}: nvrar.Communicator() took {taken:.0f} MiB on GPU 0 over its {on_gpu} rank(s), "
          f"{taken / on_gpu:.0f} MiB per rank")
comm.close()
dist.destroy_process_group()
