"""ctypes binding of include/nvrar.h. Loading never raises: on failure `LIB` is None and `REASON`
says why. Search order: $NVRAR_LIBRARY, the package's own lib/ (pip install, also the editable
install's), the source tree's build/lib (development), then the system's library path."""
import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

LIB = None
REASON = ""
PATH = None


def _preload_nvshmem():
    """libnvrar links libnvshmem_host.so.3; when it comes from the nvidia-nvshmem wheel (the one
    torch pins) load that copy first, so torch and nvrar share one NVSHMEM in the process."""
    try:
        import nvidia.nvshmem as wheel  # noqa: F401  (namespace package of the wheel)
    except ImportError:
        return
    for root in getattr(wheel, "__path__", []):
        host = Path(root) / "lib" / "libnvshmem_host.so.3"
        if host.exists():
            try:
                ctypes.CDLL(str(host), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                pass
            return


def _candidates():
    env = os.environ.get("NVRAR_LIBRARY")
    if env:
        yield env
        return
    # every directory of the package: an editable install (scikit-build-core) puts lib/ in
    # site-packages beside a package whose Python files stay in the source tree
    package = sys.modules.get(__package__)
    for root in getattr(package, "__path__", None) or [str(Path(__file__).parent)]:
        yield str(Path(root).resolve() / "lib" / "libnvrar.so")
    yield str(Path(__file__).resolve().parents[2] / "build" / "lib" / "libnvrar.so")
    found = ctypes.util.find_library("nvrar")
    if found:
        yield found


def _load():
    global LIB, REASON, PATH
    _preload_nvshmem()
    tried = []
    for path in _candidates():
        if "/" in path and not os.path.exists(path):
            tried.append(f"{path} (no such file)")
            continue
        try:
            LIB = ctypes.CDLL(path)
            PATH = path
            break
        except OSError as err:
            tried.append(f"{path} ({err})")
    if LIB is None:
        REASON = "libnvrar.so could not be loaded; tried: " + "; ".join(tried or ["nothing"])
        return
    _declare(LIB)


c_int, c_size_t, c_void_p, c_char_p, c_double, c_uint = (
    ctypes.c_int, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_uint)


class UniqueId(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_char * 128)]


class Config(ctypes.Structure):
    """nvrar_config_t; build it with config() so size and version are right."""
    _fields_ = [("size", c_size_t), ("version", c_uint), ("device", c_int), ("memory_bytes", c_size_t),
                ("algo", c_int), ("num_blocks", c_int), ("threads_per_block", c_int),
                ("oneshot_max_bytes", c_size_t), ("timeout_seconds", c_double), ("gpus_per_node", c_int),
                ("rings", c_int), ("chunk_bytes", c_size_t)]


class TunedEntry(ctypes.Structure):
    """nvrar_tuned_entry_t."""
    _fields_ = [("bytes", c_size_t), ("algo", c_int), ("num_blocks", c_int), ("threads_per_block", c_int),
                ("chunk_bytes", c_size_t), ("avg_time_ms", c_double)]


VERSION_CODE = 0 * 100000 + 4 * 1000 + 0  # NVRAR_VERSION of the header this binding was written for


_RANGES = {c_int: (-(1 << 31), (1 << 31) - 1), c_uint: (0, (1 << 32) - 1), c_size_t: (0, (1 << 64) - 1)}


def c_value(name, ctype, value):
    """value checked to fit ctype: ctypes itself would wrap it silently (2**32 + 64 blocks -> 64,
    device 2**32 -> 0, memory_bytes -1 -> SIZE_MAX). ValueError/TypeError naming the field."""
    if ctype is c_double:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, not {type(value).__name__}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{name} {value} is not finite")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    lo, hi = _RANGES[ctype]
    if not lo <= value <= hi:
        raise ValueError(f"{name} {value} does not fit nvrar's C field ({lo}..{hi})")
    return value


def config(**fields):
    """An nvrar_config_t as NVRAR_CONFIG_INITIALIZER makes it, with `fields` set (algo by its
    nvrar_algo_t value or its name)."""
    c = Config(ctypes.sizeof(Config), VERSION_CODE, -1, 0, 0, 0, 0, 0, 0.0, 0, 0, 0)
    types = dict(Config._fields_)
    for name, value in fields.items():
        if name not in types or name in ("size", "version"):
            raise TypeError(f"nvrar config has no field {name!r}")
        if name == "algo" and isinstance(value, str):
            names = [algo for algo, _ in algorithms()]
            if value not in names:
                raise ValueError(f"algo {value!r} is not one of {', '.join(names)}")
            value = names.index(value)
        setattr(c, name, c_value(name, types[name], value))
    return c


def _declare(lib):
    r = c_int  # nvrar_result_t
    sigs = {
        "nvrar_get_version": (r, [ctypes.POINTER(c_int)]),
        "nvrar_result_string": (c_char_p, [c_int]),
        "nvrar_get_last_error": (c_char_p, []),
        "nvrar_get_unique_id": (r, [ctypes.POINTER(UniqueId)]),
        "nvrar_comm_init": (r, [ctypes.POINTER(c_void_p), c_int, UniqueId, c_int, ctypes.POINTER(Config)]),
        "nvrar_comm_destroy": (r, [c_void_p]),
        "nvrar_comm_abort": (r, [c_void_p]),
        "nvrar_comm_get_async_error": (r, [c_void_p, ctypes.POINTER(c_int)]),
        "nvrar_comm_rank": (r, [c_void_p, ctypes.POINTER(c_int)]),
        "nvrar_comm_size": (r, [c_void_p, ctypes.POINTER(c_int)]),
        "nvrar_comm_device": (r, [c_void_p, ctypes.POINTER(c_int)]),
        "nvrar_comm_local_size": (r, [c_void_p, ctypes.POINTER(c_int)]),
        "nvrar_malloc": (r, [c_void_p, c_size_t, ctypes.POINTER(c_void_p)]),
        "nvrar_free": (r, [c_void_p, c_void_p]),
        "nvrar_all_reduce": (r, [c_void_p, c_void_p, c_void_p, c_size_t, c_int, c_int, c_void_p]),
        "nvrar_all_reduce_add_rmsnorm": (r, [c_void_p, c_void_p, c_void_p, c_void_p, ctypes.c_float, c_void_p,
                                             c_size_t, c_size_t, c_int, c_void_p]),
        "nvrar_exchange": (r, [c_void_p, c_void_p, c_void_p, c_size_t, c_int, c_void_p]),
        "nvrar_dtype_size": (c_size_t, [c_int]),
        "nvrar_parse_size": (r, [c_char_p, ctypes.POINTER(c_size_t)]),
        "nvrar_config_resolve": (r, [ctypes.POINTER(Config), ctypes.POINTER(Config)]),
        "nvrar_algo_info": (r, [c_int, ctypes.POINTER(c_char_p), ctypes.POINTER(c_int)]),
        "nvrar_tuned_file": (r, [c_int, c_int, c_char_p, c_size_t]),
        "nvrar_tuned_read": (r, [c_char_p, ctypes.POINTER(TunedEntry), c_int, ctypes.POINTER(c_int)]),
        "nvrar_comm_set_tuned": (r, [c_void_p, c_int, ctypes.POINTER(TunedEntry), c_int]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def algorithms():
    """[(name, multinode)] in nvrar_algo_t order, from the library's own table: nvrar_algo_info for
    0, 1, ... until it refuses a code (NVRAR_NUM_ALGOS), so the binding mirrors no count; [] when
    libnvrar.so could not be loaded (REASON says why)."""
    if LIB is None:
        return []
    out = []
    while True:
        name, multinode = c_char_p(), c_int(0)
        if LIB.nvrar_algo_info(len(out), ctypes.byref(name), ctypes.byref(multinode)) != 0:
            return out
        out.append((name.value.decode(), bool(multinode.value)))


_load()
