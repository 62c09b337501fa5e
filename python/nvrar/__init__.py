"""nvrar: GPU-resident all-reduce for tensor-parallel inference, built on NVSHMEM.

`import nvrar` never fails. NVRAR_AVAILABLE says whether the native library (libnvrar.so) loaded,
and unavailable_reason() says why not. The binding is ctypes over include/nvrar.h; nothing here is
built against torch.
"""
from . import _native
from .config_paths import DTYPE_CODES, cache_dir, tuned_file
from .params import ALGO_NAMES, DEFAULT_PARAMS, params_for, read_tuned, resolve_params, write_tuned
from .sizes import parse_size

__all__ = ["NVRAR_AVAILABLE", "NvrarError", "unavailable_reason", "version", "library_path", "nccl_library_path",
           "parse_size",
           "DTYPES", "OPS", "ALGOS", "NVRAR_CACHE_DIR", "cache_dir", "tuned_file", "resolve_params", "params_for",
           "read_tuned", "write_tuned", "DEFAULT_PARAMS", "resolved_config", "Communicator"]

__version__ = "0.4.0"

NVRAR_AVAILABLE = _native.LIB is not None

# Where tuned files go, as the environment said at import (cache_dir() reads it again).
NVRAR_CACHE_DIR = cache_dir()

# nvrar_dtype_t, nvrar_op_t and nvrar_algo_t values of include/nvrar.h
DTYPES = DTYPE_CODES
OPS = {"sum": 0, "max": 1, "min": 2}
ALGOS = {name: code for code, name in enumerate(ALGO_NAMES)}


class NvrarError(RuntimeError):
    """A call into libnvrar failed: `code` is the nvrar_result_t, `name` its string, `message` the
    library's last-error text for the failing call."""

    def __init__(self, code, name, message):
        super().__init__(f"nvrar error {code} ({name}): {message}")
        self.code = code
        self.name = name
        self.message = message


def __getattr__(name):
    # nvrar.Communicator imports torch; only when asked for, so `import nvrar` never needs torch
    if name == "Communicator":
        from .communicator import Communicator
        return Communicator
    raise AttributeError(f"module 'nvrar' has no attribute {name!r}")


def unavailable_reason():
    """Why the native library is not available ('' when it is)."""
    return _native.REASON


def library_path():
    """Path of the loaded libnvrar.so, or None."""
    return _native.PATH


def nccl_library_path():
    """Path of the NCCL drop-in built with the loaded libnvrar.so (libnvrar_nccl.so beside it), for
    LD_PRELOAD, VLLM_NCCL_SO_PATH or SGLANG_NCCL_SO_PATH (docs/nccl.md); None when there is none."""
    import os
    if not _native.PATH:
        return None
    path = os.path.join(os.path.dirname(_native.PATH), "libnvrar_nccl.so")
    return path if os.path.exists(path) else None


def _lib():
    if _native.LIB is None:
        raise RuntimeError(f"nvrar's native library is not available: {_native.REASON}")
    return _native.LIB


def check(result):
    """Raises NvrarError for a non-zero nvrar_result_t."""
    if result != 0:
        lib = _lib()
        raise NvrarError(result, lib.nvrar_result_string(result).decode(), lib.nvrar_get_last_error().decode())


def version():
    """The loaded library's version as 'major.minor.patch'."""
    import ctypes
    v = ctypes.c_int()
    check(_lib().nvrar_get_version(ctypes.byref(v)))
    return f"{v.value // 100000}.{v.value // 1000 % 100}.{v.value % 1000}"


def resolved_config(**fields):
    """What nvrar_comm_init would use for a Communicator made with these config fields (device,
    memory_bytes, algo, num_blocks, ...): each field as the C library resolves it from the fields,
    then the NVRAR_* environment, then its defaults; algo by name. NvrarError (the library's message,
    naming the bad field or variable) for what init would refuse."""
    import ctypes
    config = _native.config(**fields)
    out = _native.config()
    check(_lib().nvrar_config_resolve(ctypes.byref(config), ctypes.byref(out)))
    got = {name: getattr(out, name) for name, _ in _native.Config._fields_ if name not in ("size", "version")}
    got["algo"] = ALGO_NAMES[got["algo"]]
    return got
