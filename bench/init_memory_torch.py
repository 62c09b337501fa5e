"""Device memory of nvrar.Communicator() on one rank under torch: `warm` after torch has run kernels
of its own (matmul, softmax, layer norm), as in a serving engine, `cold` before it has run any.
The CUDA driver grows its module memory in 64 MiB steps at the first sizeable module a process
loads: cold, nvrar's module takes it; warm, torch's did. Usage: python3 bench/init_memory_torch.py warm|cold
(NVRAR_DEBUG=INFO NVRAR_DEBUG_SUBSYS=INIT prints init's parts)."""
import sys

import torch
import torch.distributed as dist

import nvrar

if sys.argv[1:] not in (["warm"], ["cold"]):
    sys.exit(__doc__)
torch.cuda.set_device(0)
torch.cuda.init()
torch.empty(1, device="cuda")
if sys.argv[1:] == ["warm"]:
    x = torch.randn(2048, 2048, device="cuda", dtype=torch.bfloat16)
    torch.nn.functional.layer_norm(torch.softmax(x @ x, dim=-1), (2048,))
    torch.cuda.synchronize()
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29561", rank=0, world_size=1)
before = torch.cuda.mem_get_info()[0]
comm = nvrar.Communicator()
after = torch.cuda.mem_get_info()[0]
print(f"torch {sys.argv[1]}: nvrar.Communicator() took {(before - after) / 2**20:.0f} MiB on 1 rank")
comm.close()
dist.destroy_process_group()
