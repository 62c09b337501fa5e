"""The NCCL drop-in loaded by path with ctypes, as vLLM's and SGLang's pynccl wrappers load
VLLM_NCCL_SO_PATH / SGLANG_NCCL_SO_PATH: no GPU needed to find their functions and the real NCCL's
version behind it."""
import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nvrar

PATH = nvrar.nccl_library_path()
needs_dropin = pytest.mark.skipif(PATH is None, reason="libnvrar_nccl.so was not built (no nccl.h at build time)")

# What vLLM's and SGLang's wrappers bind (python/tests/gpu/nccl_ctypes_check.py does the rest on GPUs).
FRAMEWORK_FUNCTIONS = ["ncclGetErrorString", "ncclGetVersion", "ncclGetUniqueId", "ncclCommInitRank", "ncclAllReduce",
                       "ncclAllGather", "ncclReduceScatter", "ncclReduce", "ncclBroadcast", "ncclSend", "ncclRecv",
                       "ncclGroupStart", "ncclGroupEnd", "ncclCommDestroy", "ncclCommAbort"]


@needs_dropin
def test_beside_the_loaded_library():
    assert Path(PATH).parent == Path(nvrar.library_path()).parent


def run_isolated(code, **env):
    """In a fresh process: the drop-in loads its NCCL once per process."""
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True, text=True,
                         timeout=120)
    return out.returncode, out.stdout.strip(), out.stderr


@needs_dropin
def test_loads_by_path_with_what_frameworks_bind():
    lib = ctypes.CDLL(PATH)
    assert [f for f in FRAMEWORK_FUNCTIONS if not hasattr(lib, f)] == []


@needs_dropin
def test_reports_the_real_nccls_version():
    code = (f"import ctypes; lib = ctypes.CDLL({PATH!r}); v = ctypes.c_int(); "
            "r = lib.ncclGetVersion(ctypes.byref(v)); print(r, v.value)")
    rc, out, err = run_isolated(code)
    assert rc == 0, err
    result, version = map(int, out.split())
    if result != 0:
        pytest.skip(f"no real NCCL to forward to on this machine: {err.strip()[-200:]}")
    assert version >= 21800


@needs_dropin
def test_an_unloadable_nccl_gives_an_error_and_a_reason():
    code = (f"import ctypes; lib = ctypes.CDLL({PATH!r}); lib.ncclGetLastError.restype = ctypes.c_char_p; "
            "v = ctypes.c_int(); print(lib.ncclGetVersion(ctypes.byref(v))); print(lib.ncclGetLastError(None).decode())")
    rc, out, err = run_isolated(code, NVRAR_NCCL_LIBRARY="/nonexistent/libnccl.so.2")
    assert rc == 0, err
    result, message = out.split("\n", 1)
    assert int(result) == 2  # ncclSystemError
    assert "could not be loaded" in message and "/nonexistent/libnccl.so.2" in err
