"""The tuner under the seed's name (same command line as `python -m nvrar.tune`):

    torchrun --nproc_per_node=4 tuning/benchmark_tune_allreduce_preallocated.py --size 1048576 --dtype float32 \
        --num-blocks 4,8,16,32 --threads-per-block 128,256,512 \
        --chunk-bytes 16384,32768,65536,131072,262144 --iterations 50 --warmup 10 --topk 10
"""
import sys

from nvrar.tune import main

if __name__ == "__main__":
    sys.exit(main())
