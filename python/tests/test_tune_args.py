"""The tuner's command line (the seed's flags) and its grid, without GPUs or torch."""
import pytest

import nvrar
from nvrar.tune import configurations, parse_args


def test_the_seed_single_size_command():
    a = parse_args("--size 1048576 --dtype float32 --num-blocks 4,8,16,32 --threads-per-block 128,256,512 "
                   "--chunk-bytes 16384,32768,65536,131072,262144 --iterations 50 --warmup 10 --topk 10".split())
    assert a.sizes == [1048576] and a.dtype == "float32" and a.num_blocks == [4, 8, 16, 32]
    assert a.threads_per_block == [128, 256, 512] and a.chunk_bytes[-1] == 262144
    assert (a.iterations, a.warmup, a.topk, a.no_cache, a.output) == (50, 10, 10, False, None)


def test_the_seed_multi_size_command():
    a = parse_args("--sizes 64KiB,1MiB,8MiB --dtype float32 --output tune_results.json".split())
    assert a.sizes == [65536, 1 << 20, 8 << 20] and a.output == "tune_results.json"
    assert a.num_blocks == [0] and a.threads_per_block == [0] and a.chunk_bytes == [0] and a.algorithms is None


@pytest.mark.parametrize("argv, what", [
    ("", "one of the arguments --size --sizes is required"),
    ("--size 1024 --sizes 1K,2K", "not allowed with"),
    ("--size 1K,2K", "--sizes for a list"),
    ("--sizes 64QB", "not a size"),
    ("--sizes 0", "at least 1 byte"),
    ("--size 1024 --threads-per-block 100", "multiple of 32"),
    ("--size 1024 --threads-per-block 1024", "64-512"),
    ("--size 1024 --num-blocks 200", "1-128"),
    ("--size 1024 --num-blocks x", "not a comma-separated list"),
    ("--size 1024 --chunk-bytes 1000", "multiple of 16"),
    ("--size 1024 --dtype int8", "invalid choice"),
    ("--size 1024 --algorithms tree", "unknown algorithm"),
    ("--size 1024 --iterations 0", "--iterations must be at least 1"),
])
def test_argument_errors_name_the_problem(capsys, argv, what):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv.split())
    assert exit_.value.code == 2
    assert what in capsys.readouterr().err


@pytest.mark.skipif(not nvrar.NVRAR_AVAILABLE, reason="which algorithms are the ring family comes from libnvrar.so's "
                    "table: " + nvrar.unavailable_reason())
def test_chunk_sizes_only_multiply_the_ring_family():
    cfgs = configurations(["oneshot", "ring"], [8, 16], [256], [0, 16384, 65536])
    assert [c for c in cfgs if c[0] == "oneshot"] == [("oneshot", 8, 256, 0), ("oneshot", 16, 256, 0)]
    assert len([c for c in cfgs if c[0] == "ring"]) == 2 * 3
