"""Tuned parameters: resolve_params(num_gpus, dtype) reads the tuned file of that world size and dtype
with libnvrar's own parser (nvrar_tuned_read), so what Python reports is what the C planner uses;
write_tuned() is how the tuner stores its best configurations. File format: docs/tuning.md."""
import ctypes
import json
import os
import tempfile
import warnings

from . import _native
from .config_paths import dtype_name, tuned_file
from .sizes import parse_size

ALGO_NAMES = [name for name, _ in _native.algorithms()]  # nvrar_algo_t order, from the library's table
MAX_ENTRIES = 64  # NVRAR_MAX_TUNED_ENTRIES
FIELDS = ("algorithm", "num_blocks", "threads_per_block", "chunk_bytes", "avg_time_ms")

# What a message with no tuned entry gets: the built-in planner's choice of everything.
DEFAULT_PARAMS = {"algorithm": "auto", "num_blocks": 0, "threads_per_block": 0, "chunk_bytes": 0, "avg_time_ms": None}


def read_tuned(path):
    """{message bytes: params} of a tuned file, sorted by size; {} when there is no such file.
    NvrarError (code NVRAR_ERR_INVALID_ARGUMENT, the line and what is wrong) for a malformed one."""
    from . import _lib, check
    entries = (_native.TunedEntry * MAX_ENTRIES)()
    count = ctypes.c_int(0)
    check(_lib().nvrar_tuned_read(os.fsencode(str(path)), entries, MAX_ENTRIES, ctypes.byref(count)))
    return {e.bytes: {"algorithm": ALGO_NAMES[e.algo], "num_blocks": e.num_blocks,
                      "threads_per_block": e.threads_per_block, "chunk_bytes": e.chunk_bytes,
                      "avg_time_ms": e.avg_time_ms} for e in entries[:count.value]}


def _by_size(table):
    """[(bytes, params)] of a {size token: params} table, sorted by size; ValueError for one size
    spelled twice ("64KiB" and 65536)."""
    if not isinstance(table, dict):
        raise TypeError(f"a tuned table is a dict {{size: params}}, not {type(table).__name__}")
    if len(table) > MAX_ENTRIES:
        raise ValueError(f"a tuned table holds at most {MAX_ENTRIES} sizes, not {len(table)}")
    seen = {}
    for key, params in table.items():
        size = parse_size(key)
        if size in seen:
            raise ValueError(f"size {size} appears twice in the table (as {seen[size]!r} and {key!r})")
        if not isinstance(params, dict):
            raise TypeError(f"size {key!r}: params must be a dict, not {type(params).__name__}")
        seen[size] = key
    return sorted(((parse_size(k), v) for k, v in table.items()), key=lambda item: item[0])


def to_entries(table):
    """{bytes: params} as a ctypes array of nvrar_tuned_entry_t (for nvrar_comm_set_tuned)."""
    rows = _by_size(table)
    entries = (_native.TunedEntry * max(len(rows), 1))()
    for e, (size, params) in zip(entries, rows):
        algo = params.get("algorithm", "auto")
        if algo not in ALGO_NAMES:
            raise ValueError(f"size {size}: algorithm {algo!r} is not one of {', '.join(ALGO_NAMES)}")
        e.bytes, e.algo = size, ALGO_NAMES.index(algo)
        e.num_blocks = _native.c_value("num_blocks", _native.c_int, int(params.get("num_blocks") or 0))
        e.threads_per_block = _native.c_value("threads_per_block", _native.c_int,
                                              int(params.get("threads_per_block") or 0))
        e.chunk_bytes = _native.c_value("chunk_bytes", _native.c_size_t, int(params.get("chunk_bytes") or 0))
        e.avg_time_ms = _native.c_value("avg_time_ms", _native.c_double, float(params.get("avg_time_ms") or 0.0))
    return entries


def params_for(table, nbytes):
    """The entry of `table` ({bytes: params}) for a message of nbytes: the largest size not above it,
    else DEFAULT_PARAMS (the same rule as the C planner's)."""
    nbytes = parse_size(nbytes)
    best = None
    for size in sorted(table):
        if size > nbytes:
            break
        best = size
    return dict(table[best]) if best is not None else dict(DEFAULT_PARAMS)


def resolve_params(num_gpus, dtype, nbytes=None):
    """The tuned parameters nvrar uses for this world size and dtype: the whole table {bytes: params}
    or, with nbytes, the params of that message size. No file: {} (or DEFAULT_PARAMS). A malformed
    file: a warning naming it, then the defaults, as the C library does."""
    from . import NvrarError
    path = tuned_file(num_gpus, dtype)
    try:
        table = read_tuned(path)
    except NvrarError as err:
        warnings.warn(f"nvrar: ignoring tuned file {path}: {err.message}; using the built-in planner", stacklevel=2)
        table = {}
    return table if nbytes is None else params_for(table, nbytes)


def write_tuned(num_gpus, dtype, table, path=None):
    """Writes {bytes: params} as the tuned file of (num_gpus, dtype) (or to path), atomically, then
    reads it back through libnvrar so a file nvrar cannot read is never left behind. Returns the path."""
    from . import NvrarError
    path = tuned_file(num_gpus, dtype) if path is None else path
    out = {}
    for size, params in _by_size(table):
        algo = params.get("algorithm")
        if algo not in ALGO_NAMES:
            raise ValueError(f"size {size}: algorithm {algo!r} is not one of {', '.join(ALGO_NAMES)}")
        out[str(size)] = {k: params[k] for k in FIELDS if params.get(k) is not None}
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tuning_", suffix=".json", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        try:
            read_tuned(tmp)  # nvrar's parser must accept it
        except NvrarError as err:  # say what is wrong with the table, not with a hidden temporary file
            what = err.message.split(" is malformed: ", 1)[-1]
            raise ValueError(f"the table for {path} is not a valid tuned file: {what}") from None
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
