"""Lab: writes a .cu of N trivial kernels of about 10 KB of SASS each (512 unrolled FMAs), to find
at which module size the CUDA driver grows its module memory (dev/probe.sh codesize).
Usage: python3 dev/code_size.py N > file.cu"""
import sys

n = int(sys.argv[1])
for i in range(n):
    print(f'extern "C" __global__ void k{i}(float *o) {{\n  float a = o[threadIdx.x];\n#pragma unroll\n'
          f'  for (int i = 0; i < 512; i++) a = a * 1.0001f + (float)({i} + i);\n  o[threadIdx.x] = a;\n}}')
