"""Where tuned parameters live. The path comes from libnvrar (nvrar_tuned_file), so Python and the
C planner always look at the same file:

  NVSHMEM_ALLREDUCE_CONFIG         a JSON file used for every world size and dtype, if set;
  $NVRAR_CACHE_DIR/tuning_{world_size}gpu_{dtype}.json   otherwise;
  NVRAR_CACHE_DIR defaults to $XDG_CACHE_HOME/nvrar, else ~/.cache/nvrar.
"""
import ctypes
import os
from pathlib import Path

from . import _native

DTYPE_NAMES = {"float32": "float32", "float": "float32", "fp32": "float32",
               "float16": "float16", "half": "float16", "fp16": "float16",
               "bfloat16": "bfloat16", "bf16": "bfloat16"}
DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 2}  # nvrar_dtype_t


def dtype_name(dtype):
    """'float32', 'float16' or 'bfloat16' for a name like 'bf16' or a torch dtype; ValueError/TypeError
    naming what was given otherwise."""
    if not isinstance(dtype, str):
        text = str(dtype)
        if not text.startswith("torch."):
            raise TypeError(f"dtype must be a string such as 'bfloat16' or a torch dtype, not {dtype!r}")
        dtype = text[len("torch."):]
    name = DTYPE_NAMES.get(dtype.lower())
    if name is None:
        raise ValueError(f"dtype {dtype!r} is not supported by nvrar: use float32, float16 or bfloat16")
    return name


def cache_dir():
    """The directory tuned files go to: $NVRAR_CACHE_DIR, else $XDG_CACHE_HOME/nvrar, else
    ~/.cache/nvrar (read from the environment at every call)."""
    if os.environ.get("NVRAR_CACHE_DIR"):
        return Path(os.environ["NVRAR_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "nvrar"
    return Path.home() / ".cache" / "nvrar"


def tuned_file(num_gpus, dtype):
    """The tuned file libnvrar reads for a world of num_gpus ranks and this dtype (it may not exist)."""
    from . import _lib, check  # late: the package imports this module
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int):
        raise TypeError(f"num_gpus must be an int, not {type(num_gpus).__name__}")
    if num_gpus < 1:
        raise ValueError(f"num_gpus must be at least 1, not {num_gpus}")
    code = DTYPE_CODES[dtype_name(dtype)]
    buf = ctypes.create_string_buffer(4096)
    check(_lib().nvrar_tuned_file(num_gpus, code, buf, len(buf)))
    return Path(buf.value.decode())
