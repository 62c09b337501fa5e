"""Tuned parameters: cache paths and their environment overrides, resolve_params through libnvrar's
parser, the JSON round trip of write_tuned, malformed files, argument errors. CPU only."""
import json

import pytest

import nvrar

needs_lib = pytest.mark.skipif(not nvrar.NVRAR_AVAILABLE, reason="libnvrar.so not built: " + nvrar.unavailable_reason())


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("NVRAR_CACHE_DIR", "NVSHMEM_ALLREDUCE_CONFIG", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_cache_dir_follows_the_environment(env, tmp_path):
    assert nvrar.cache_dir() == tmp_path / "home" / ".cache" / "nvrar"
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert nvrar.cache_dir() == tmp_path / "xdg" / "nvrar"
    env.setenv("NVRAR_CACHE_DIR", str(tmp_path / "mine"))
    assert nvrar.cache_dir() == tmp_path / "mine"


@needs_lib
def test_tuned_file_is_the_one_the_c_library_reads(env, tmp_path):
    assert nvrar.tuned_file(4, "bfloat16") == tmp_path / "home" / ".cache" / "nvrar" / "tuning_4gpu_bfloat16.json"
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert nvrar.tuned_file(8, "fp32") == tmp_path / "xdg" / "nvrar" / "tuning_8gpu_float32.json"
    env.setenv("NVRAR_CACHE_DIR", str(tmp_path / "c"))
    assert nvrar.tuned_file(2, "half") == tmp_path / "c" / "tuning_2gpu_float16.json"
    assert nvrar.tuned_file(2, "half").parent == nvrar.cache_dir()
    env.setenv("NVSHMEM_ALLREDUCE_CONFIG", str(tmp_path / "direct.json"))
    assert nvrar.tuned_file(2, "bfloat16") == tmp_path / "direct.json"


@needs_lib
def test_torch_style_dtype_names_are_accepted(env):
    class FakeTorchDtype:  # str(torch.bfloat16) == "torch.bfloat16", without importing torch here
        def __str__(self):
            return "torch.bfloat16"
    assert nvrar.tuned_file(4, FakeTorchDtype()).name == "tuning_4gpu_bfloat16.json"


@needs_lib
@pytest.mark.parametrize("num_gpus, dtype, error", [(0, "float32", ValueError), (-2, "float32", ValueError),
                                                    (2.0, "float32", TypeError), (True, "float32", TypeError),
                                                    (2, "int8", ValueError), (2, 7, TypeError)])
def test_argument_errors_name_the_problem(env, num_gpus, dtype, error):
    with pytest.raises(error):
        nvrar.resolve_params(num_gpus, dtype)


@needs_lib
def test_no_file_means_the_built_in_planner(env):
    assert nvrar.resolve_params(4, "float32") == {}
    assert nvrar.resolve_params(4, "float32", 1 << 20) == nvrar.DEFAULT_PARAMS


@needs_lib
def test_round_trip_and_lookup(env, tmp_path):
    env.setenv("NVRAR_CACHE_DIR", str(tmp_path / "cache"))
    table = {"64KiB": {"algorithm": "oneshot", "num_blocks": 32, "threads_per_block": 128, "chunk_bytes": 0,
                       "avg_time_ms": 0.0072},
             1 << 20: {"algorithm": "twoshot", "num_blocks": 64, "threads_per_block": 512, "chunk_bytes": 0,
                       "avg_time_ms": 0.0123},
             "8MiB": {"algorithm": "ring", "num_blocks": 0, "threads_per_block": 0, "chunk_bytes": 131072,
                      "avg_time_ms": 0.06}}
    path = nvrar.write_tuned(4, "float32", table)
    assert path == str(tmp_path / "cache" / "tuning_4gpu_float32.json")
    on_disk = json.load(open(path))
    assert sorted(on_disk, key=int) == ["65536", "1048576", "8388608"]
    got = nvrar.resolve_params(4, "float32")
    assert list(got) == [65536, 1 << 20, 8 << 20]
    assert got[65536] == table["64KiB"] and got[1 << 20] == table[1 << 20] and got[8 << 20] == table["8MiB"]
    # the largest size not above the message, the defaults below the first
    assert nvrar.resolve_params(4, "float32", 1000) == nvrar.DEFAULT_PARAMS
    assert nvrar.resolve_params(4, "float32", 65536)["algorithm"] == "oneshot"
    assert nvrar.resolve_params(4, "float32", "1MiB")["algorithm"] == "twoshot"
    assert nvrar.resolve_params(4, "float32", (8 << 20) - 1)["algorithm"] == "twoshot"
    assert nvrar.resolve_params(4, "float32", 1 << 30)["chunk_bytes"] == 131072
    # other world sizes and dtypes have their own files
    assert nvrar.resolve_params(2, "float32") == {} and nvrar.resolve_params(4, "bfloat16") == {}


@needs_lib
@pytest.mark.parametrize("text, what", [("{", "expected"), ('{"1024": {"algorithm": "tree"}}', "unknown algorithm"),
                                        ('{"1024": {"algorithm": "ring", "chunk_bytes": 1000}}', "multiple of 16"),
                                        ('{"big": {"algorithm": "oneshot"}}', "not a message size"), ("[]", "expected")])
def test_malformed_file_warns_and_uses_the_defaults(env, tmp_path, text, what):
    env.setenv("NVRAR_CACHE_DIR", str(tmp_path))
    path = tmp_path / "tuning_4gpu_bfloat16.json"
    path.write_text(text)
    with pytest.warns(UserWarning, match=str(path)) as caught:
        assert nvrar.resolve_params(4, "bfloat16") == {}
    assert what in str(caught[0].message)
    with pytest.warns(UserWarning):
        assert nvrar.resolve_params(4, "bfloat16", 4096) == nvrar.DEFAULT_PARAMS
    with pytest.raises(nvrar.NvrarError) as err:
        nvrar.read_tuned(path)
    assert err.value.code == 1 and what in err.value.message


@needs_lib
def test_write_tuned_refuses_what_nvrar_cannot_read(env, tmp_path):
    target = tmp_path / "t.json"
    with pytest.raises(ValueError, match="algorithm"):
        nvrar.write_tuned(4, "float32", {1024: {"algorithm": "tree"}}, path=target)
    with pytest.raises(ValueError, match="threads_per_block") as err:  # names the file asked for, not a temporary
        nvrar.write_tuned(4, "float32", {1024: {"algorithm": "oneshot", "threads_per_block": 100}}, path=target)
    assert str(target) in str(err.value) and ".tuning_" not in str(err.value)
    with pytest.raises(ValueError, match="at most 64"):
        nvrar.write_tuned(4, "float32", {i * 16 + 16: {"algorithm": "auto"} for i in range(65)}, path=target)
    with pytest.raises(ValueError, match="appears twice"):  # once a bare TypeError from sorting dicts
        nvrar.write_tuned(4, "float32", {"64KiB": {"algorithm": "oneshot"}, 65536: {"algorithm": "twoshot"}},
                          path=target)
    with pytest.raises(ValueError, match="64-bit"):
        nvrar.write_tuned(4, "float32", {"99999999999T": {"algorithm": "oneshot"}}, path=target)
    assert not target.exists() and not list(tmp_path.glob(".tuning_*"))
