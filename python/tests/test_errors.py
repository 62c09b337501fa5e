"""C errors reach Python as NvrarError with the code and the library's message; the ctypes config
struct matches nvrar_config_t. No GPU needed."""
import ctypes
import shutil
import struct

import pytest

import nvrar
from nvrar import _native

pytestmark = pytest.mark.skipif(not nvrar.NVRAR_AVAILABLE, reason="libnvrar.so not built: " + nvrar.unavailable_reason())


def test_null_communicator():
    lib = _native.LIB
    with pytest.raises(nvrar.NvrarError) as info:
        nvrar.check(lib.nvrar_all_reduce(None, None, None, 16, 0, 0, None))
    assert info.value.code == 1 and info.value.name == "invalid argument"
    assert "comm is NULL" in info.value.message


def test_bad_unique_id():
    lib = _native.LIB
    comm = ctypes.c_void_p()
    uid = _native.UniqueId()
    cfg = _native.config()
    with pytest.raises(nvrar.NvrarError) as info:
        nvrar.check(lib.nvrar_comm_init(ctypes.byref(comm), 2, uid, 0, ctypes.byref(cfg)))
    assert info.value.code == 1 and "nvrar_get_unique_id" in info.value.message


def stamped_id(version):
    uid = _native.UniqueId()
    uid.internal = struct.pack("<II", 0x4152564E, version) + bytes(120)
    return uid


def test_unique_id_from_another_version():
    comm = ctypes.c_void_p()
    cfg = _native.config()
    with pytest.raises(nvrar.NvrarError) as info:
        nvrar.check(_native.LIB.nvrar_comm_init(ctypes.byref(comm), 2, stamped_id(_native.VERSION_CODE + 1), 0,
                                                ctypes.byref(cfg)))
    assert info.value.code == 8  # NVRAR_ERR_VERSION


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="would start NVSHMEM with a made-up id on a GPU machine")
def test_config_layout_matches_the_header():
    """A config the library accepts gets past validation to the first CUDA call (no GPU here);
    a wrong size or version is refused as NVRAR_ERR_VERSION."""
    comm = ctypes.c_void_p()
    uid = stamped_id(_native.VERSION_CODE)
    good = _native.config(timeout_seconds=5.0, algo=nvrar.ALGOS["twoshot"])
    with pytest.raises(nvrar.NvrarError) as info:
        nvrar.check(_native.LIB.nvrar_comm_init(ctypes.byref(comm), 1, uid, 0, ctypes.byref(good)))
    assert info.value.code == 3  # NVRAR_ERR_CUDA: validation passed
    bad = _native.config()
    bad.size = 8
    with pytest.raises(nvrar.NvrarError) as info:
        nvrar.check(_native.LIB.nvrar_comm_init(ctypes.byref(comm), 1, uid, 0, ctypes.byref(bad)))
    assert info.value.code == 8


def test_config_fields():
    cfg = _native.config(num_blocks=16)
    assert cfg.num_blocks == 16 and cfg.device == -1 and cfg.version == _native.VERSION_CODE
    assert cfg.size == ctypes.sizeof(_native.Config) == 72  # sizeof(nvrar_config_t) in C
    with pytest.raises(TypeError, match="no field"):
        _native.config(blocks=3)


def test_dtype_sizes():
    assert [_native.LIB.nvrar_dtype_size(v) for v in nvrar.DTYPES.values()] == [4, 2, 2]


@pytest.mark.parametrize("field,value,error", [
    ("num_blocks", 2**32 + 64, ValueError),      # once wrapped to 64
    ("device", 2**32, ValueError),               # once wrapped to 0
    ("memory_bytes", -1, ValueError),            # once wrapped to SIZE_MAX
    ("chunk_bytes", 2**64, ValueError),
    ("timeout_seconds", float("inf"), ValueError),
    ("timeout_seconds", "30", TypeError),
    ("num_blocks", 16.5, TypeError),
    ("rings", True, TypeError),
    ("size", 8, TypeError),                      # size and version are the binding's, not the caller's
])
def test_config_values_that_do_not_fit_are_refused(field, value, error):
    with pytest.raises(error, match=field):
        _native.config(**{field: value})


def test_config_values_at_the_edges_fit():
    cfg = _native.config(device=2**31 - 1, memory_bytes=2**64 - 1, timeout_seconds=1e30)
    assert cfg.device == 2**31 - 1 and cfg.memory_bytes == 2**64 - 1 and cfg.timeout_seconds == 1e30
