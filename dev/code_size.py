"""Lab: writes a .cu of N trivial kernels of about 10 KB of SASS each (512 unrolled FMAs), to find
what makes the CUDA driver's module memory grow (dev/probe.sh codesize): the code's size, or a
module that calls device printf (as NVSHMEM's device library does; nvrar's cubin imports vprintf).
Usage: python3 dev/code_size.py N [--printf] > file.cu"""
import sys

n = int(sys.argv[1])
for i in range(n):
    print(f'extern "C" __global__ void k{i}(float *o) {{\n  float a = o[threadIdx.x];\n#pragma unroll\n'
          f'  for (int i = 0; i < 512; i++) a = a * 1.0001f + (float)({i} + i);\n  o[threadIdx.x] = a;\n}}')
if "--printf" in sys.argv[2:]:
    print('#include <cstdio>\nextern "C" __global__ void k_printf(int x) { if (x < 0) printf("never %d\\n", x); }')
