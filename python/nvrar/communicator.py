"""nvrar.Communicator: nvrar over a torch.distributed process group. Imported lazily (torch is not a
dependency of `import nvrar`).

    comm = nvrar.Communicator()                    # every rank of the group; rank 0's id is broadcast
    comm.all_reduce(t)                             # in place, on the current CUDA stream
    comm.all_reduce(t, op="max", out=result)       # out of place
    buf = comm.allocate_tensor((4096,), torch.bfloat16)   # symmetric memory (nvrar_malloc)
    comm.free(buf)                                 # collective, like allocate_tensor
    comm.all_reduce_(t)                            # in place as the torch op nvrar::all_reduce_ (torch.compile)
    comm.all_reduce_add_rmsnorm(x, residual, weight, 1e-5)  # residual += sum(x); x = rmsnorm(residual) * weight
    comm.close()                                   # collective; also frees what was not freed

All-reduces are stream-ordered and capturable in CUDA graphs, as nvrar_all_reduce is.
"""
import ctypes
import os

from . import OPS, _native
from .config_paths import DTYPE_CODES

# Communicators by id, for the torch.library op (a custom op's schema takes ints, not objects).
_LIVE = {}
_next_id = [1]
_op_registered = [False]


def _register_op():
    """nvrar::all_reduce_(Tensor(a!) tensor, int comm_id, str op) -> (): in place, on the current stream,
    opaque to torch.compile (a fake implementation says it only mutates its input), capturable."""
    if _op_registered[0]:
        return
    torch = _torch()

    @torch.library.custom_op("nvrar::all_reduce_", mutates_args=("tensor",), device_types="cuda")
    def all_reduce_(tensor: torch.Tensor, comm_id: int, op: str) -> None:
        comm = _LIVE.get(comm_id)
        if comm is None:
            raise RuntimeError(f"nvrar::all_reduce_: communicator {comm_id} is closed or never existed")
        comm.all_reduce(tensor, op=op)

    @all_reduce_.register_fake
    def _(tensor, comm_id, op):
        return None

    @torch.library.custom_op("nvrar::all_reduce_add_rmsnorm_", mutates_args=("x", "residual"), device_types="cuda")
    def all_reduce_add_rmsnorm_(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float,
                                comm_id: int) -> None:
        comm = _LIVE.get(comm_id)
        if comm is None:
            raise RuntimeError(f"nvrar::all_reduce_add_rmsnorm_: communicator {comm_id} is closed or never existed")
        comm.all_reduce_add_rmsnorm(x, residual, weight, eps, out=x)

    @all_reduce_add_rmsnorm_.register_fake
    def _(x, residual, weight, eps, comm_id):
        return None

    _op_registered[0] = True


def _torch():
    import torch  # noqa: PLC0415  (torch is optional for the package)
    return torch


def _dtype_code(dtype):
    torch = _torch()
    codes = {torch.float32: DTYPE_CODES["float32"], torch.float16: DTYPE_CODES["float16"],
             torch.bfloat16: DTYPE_CODES["bfloat16"]}
    if dtype not in codes:
        raise TypeError(f"nvrar all-reduces float32, float16 and bfloat16 tensors, not {dtype}")
    return codes[dtype]


class _DeviceBytes:
    """A device allocation seen through __cuda_array_interface__, so torch.as_tensor wraps it without
    a copy (as uint8: the interface has no bfloat16; the caller views it as the wanted dtype)."""

    def __init__(self, ptr, nbytes):
        self.__cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (ptr, False),
                                         "version": 2, "strides": None}


class Communicator:
    """An nvrar communicator over the ranks of a torch.distributed group (default: the world).

    Keyword arguments set nvrar_config_t fields (algo, num_blocks, threads_per_block, memory_bytes,
    timeout_seconds, gpus_per_node, rings, chunk_bytes, oneshot_max_bytes); unset ones follow the
    NVRAR_* environment. device: the CUDA device of this rank (default: the current one)."""

    def __init__(self, group=None, *, device=None, **config):
        from . import _lib, check
        torch = _torch()
        import torch.distributed as dist
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("nvrar.Communicator needs torch.distributed: call dist.init_process_group() first")
        self.group = group if group is not None else dist.group.WORLD
        self.rank = dist.get_rank(self.group)
        self.world_size = dist.get_world_size(self.group)
        if self.rank < 0:
            raise ValueError("this process is not a member of the group it passed to nvrar.Communicator")
        self.device = torch.device("cuda", torch.cuda.current_device()) if device is None else torch.device(device)
        if self.device.type != "cuda" or self.device.index is None:
            raise ValueError(f"device must be a CUDA device with an index, not {self.device}")
        _register_op()  # before anything is live: a failure here leaves nothing behind
        self._comm = None
        self._pid = os.getpid()
        self._buffers = {}  # data_ptr -> bytes, of allocate_tensor
        # Local checks first; whatever fails on rank 0 before the id exists is broadcast in its place,
        # so the other ranks raise too instead of waiting for an id that never comes.
        failure = None
        try:
            cfg = _native.config(device=self.device.index, **config)
            # what init would refuse here (a bad NVRAR_* variable of this rank) stops every rank now
            check(_lib().nvrar_config_resolve(ctypes.byref(cfg), ctypes.byref(_native.config())))
            uid = _native.UniqueId()
            if self.rank == 0:
                check(_lib().nvrar_get_unique_id(ctypes.byref(uid)))
        except (TypeError, ValueError, RuntimeError) as err:
            failure = err
        box = [("id", bytes(uid)) if failure is None else ("error", repr(failure))] if self.rank == 0 else [None]
        with torch.cuda.device(self.device):
            dist.broadcast_object_list(box, src=dist.get_global_rank(self.group, 0), group=self.group)
            # every rank says whether it can go on, so that none enters the collective init alone
            ready = [None] * self.world_size
            dist.all_gather_object(ready, failure is None and box[0][0] == "id", group=self.group)
        if failure is not None:
            raise failure
        if box[0][0] != "id":
            raise RuntimeError(f"nvrar.Communicator: rank 0 of the group failed before creating the id: {box[0][1]}")
        if not all(ready):
            bad = [r for r, ok in enumerate(ready) if not ok]
            raise RuntimeError(f"nvrar.Communicator: rank(s) {bad} of the group could not start (their own errors "
                               "say why); no rank starts the communicator")
        uid = _native.UniqueId.from_buffer_copy(box[0][1])
        comm = ctypes.c_void_p()
        with torch.cuda.device(self.device):
            check(_lib().nvrar_comm_init(ctypes.byref(comm), self.world_size, uid, self.rank, ctypes.byref(cfg)))
        self._comm = comm
        self.id = _next_id[0]
        _next_id[0] += 1
        _LIVE[self.id] = self

    @property
    def local_size(self):
        """Ranks on this rank's node (its host, or its virtual node under NVRAR_GPUS_PER_NODE)."""
        from . import _lib, check
        handle = self._handle()
        out = ctypes.c_int()
        check(_lib().nvrar_comm_local_size(handle, ctypes.byref(out)))
        return out.value

    # ---- lifetime ----
    def _handle(self):
        if self._pid != os.getpid():
            raise RuntimeError("this nvrar.Communicator belongs to the process that created it; a forked child "
                               "cannot use it (create a new one there, after a fresh CUDA start)")
        if self._comm is None:
            raise RuntimeError("this nvrar.Communicator is closed")
        return self._comm

    def _release(self, how):
        from . import _lib, check
        if self._comm is None or self._pid != os.getpid():
            return  # closed, or a forked child's copy: only the creating process may free it
        comm, self._comm = self._comm, None
        self._buffers.clear()
        _LIVE.pop(self.id, None)
        check(getattr(_lib(), how)(comm))

    def close(self):
        """Collective: waits for this rank's all-reduces, frees every buffer and the communicator.
        Idempotent."""
        self._release("nvrar_comm_destroy")

    def abort(self):
        """Local: stops waiting for peers (after a timeout or a lost rank) and frees the communicator."""
        self._release("nvrar_comm_abort")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- symmetric memory ----
    def allocate_tensor(self, shape, dtype):
        """Collective: a tensor of `shape` and `dtype` in NVSHMEM's symmetric heap, on this rank's
        device (what nvrar_exchange needs; an all-reduce copies such an input into nvrar's staging
        like any other: no algorithm reads it in place on the peers yet). Free it with
        free() (collectively: every rank, same order) or let close() free it; dropping the tensor
        does not (a free on garbage collection could differ between ranks and hang them)."""
        from . import _lib, check
        handle = self._handle()  # first: a forked child's copy refuses before any CUDA call
        torch = _torch()
        _dtype_code(dtype)
        shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list, torch.Size)) else (shape,)))
        if any(s < 0 for s in shape):
            raise ValueError(f"shape {shape} has a negative extent")
        numel = 1
        for s in shape:
            numel *= s
        nbytes = max(numel * torch.empty((), dtype=dtype).element_size(), 1)
        ptr = ctypes.c_void_p()
        with torch.cuda.device(self.device):
            check(_lib().nvrar_malloc(handle, nbytes, ctypes.byref(ptr)))
            raw = torch.as_tensor(_DeviceBytes(ptr.value, nbytes), device=self.device)
        self._buffers[ptr.value] = nbytes
        return raw[:numel * torch.empty((), dtype=dtype).element_size()].view(dtype).view(shape)

    def free(self, tensor):
        """Collective: returns a tensor of allocate_tensor to the heap; the tensor must not be used after."""
        from . import _lib, check
        handle = self._handle()
        torch = _torch()
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"free() takes a tensor from allocate_tensor(), not {type(tensor).__name__}")
        ptr = tensor.data_ptr()
        if ptr not in self._buffers:
            raise ValueError("free() takes a tensor that allocate_tensor() returned (and that is not freed yet)")
        check(_lib().nvrar_free(handle, ctypes.c_void_p(ptr)))
        del self._buffers[ptr]

    # ---- launch parameters ----
    def set_params(self, dtype, table):
        """Local: the tuned table ({bytes: {"algorithm", "num_blocks", "threads_per_block",
        "chunk_bytes"}}, as in a tuned file) this communicator uses for dtype from now on, instead of
        the file's; {} restores the built-in planner. Every rank must set the same table before its
        next all-reduce of that dtype. The tuner times configurations this way."""
        from . import _lib, check
        from .config_paths import DTYPE_CODES, dtype_name
        from .params import to_entries
        handle = self._handle()
        entries = to_entries(table)
        check(_lib().nvrar_comm_set_tuned(handle, DTYPE_CODES[dtype_name(dtype)], entries, len(table)))

    # ---- collectives ----
    def _check_tensor(self, t, name):
        torch = _torch()
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, not {type(t).__name__}")
        _dtype_code(t.dtype)
        if t.layout != torch.strided:
            raise ValueError(f"{name} has layout {t.layout}; nvrar takes dense (strided) tensors")
        if t.device != self.device:
            raise ValueError(f"{name} is on {t.device}, but this communicator is on {self.device}")
        if not t.is_contiguous():
            raise ValueError(f"{name} is not contiguous; call .contiguous() first")

    def all_reduce(self, tensor, op="sum", out=None):
        """Sums (or max / min) `tensor` over the group's ranks, into `out` or in place; on the current
        CUDA stream of the communicator's device. Returns the result tensor."""
        from . import _lib, check
        handle = self._handle()
        torch = _torch()
        self._check_tensor(tensor, "tensor")
        if op not in OPS:
            raise ValueError(f"op {op!r} is not one of {', '.join(OPS)}")
        if out is None:
            out = tensor
        else:
            self._check_tensor(out, "out")
            if out.dtype != tensor.dtype or out.numel() != tensor.numel():
                raise ValueError(f"out ({out.dtype}, {out.numel()} elements) must match tensor "
                                 f"({tensor.dtype}, {tensor.numel()} elements)")
        stream = torch.cuda.current_stream(self.device).cuda_stream
        args = (handle, ctypes.c_void_p(tensor.data_ptr()), ctypes.c_void_p(out.data_ptr()), tensor.numel(),
                _dtype_code(tensor.dtype), OPS[op], ctypes.c_void_p(stream))
        if torch.cuda.current_device() == self.device.index:
            check(_lib().nvrar_all_reduce(*args))
        else:  # the kernel is launched on the current device: make it the communicator's
            with torch.cuda.device(self.device):
                check(_lib().nvrar_all_reduce(*args))
        return out

    def all_reduce_add_rmsnorm(self, x, residual, weight, eps, out=None):
        """The end of a tensor-parallel layer in one call (nvrar_all_reduce_add_rmsnorm): residual <-
        all_reduce_sum(x) + residual, in place; out <- rmsnorm(residual) * weight, into `out` or over x.
        x, residual, out: (..., hidden) contiguous tensors of one dtype on this communicator's device,
        weight: (hidden,). The rounding steps are include/nvrar.h's, bitwise the same on every rank.
        Returns out."""
        from . import _lib, check
        handle = self._handle()
        torch = _torch()
        for name, t in (("x", x), ("residual", residual), ("weight", weight)):
            self._check_tensor(t, name)
        out = x if out is None else out
        self._check_tensor(out, "out")
        hidden = x.shape[-1] if x.dim() else 1
        for name, t in (("residual", residual), ("out", out)):
            if t.dtype != x.dtype or t.shape != x.shape:
                raise ValueError(f"{name} ({t.dtype}, {tuple(t.shape)}) must match x ({x.dtype}, {tuple(x.shape)})")
        if weight.dtype != x.dtype or weight.shape != (hidden,):
            raise ValueError(f"weight ({weight.dtype}, {tuple(weight.shape)}) must be ({x.dtype}, ({hidden},))")
        rows = x.numel() // hidden if hidden else 0
        stream = torch.cuda.current_stream(self.device).cuda_stream
        args = (handle, ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(residual.data_ptr()),
                ctypes.c_void_p(weight.data_ptr()), ctypes.c_float(_native.c_value("eps", _native.c_double, eps)),
                ctypes.c_void_p(out.data_ptr()), rows, hidden, _dtype_code(x.dtype), ctypes.c_void_p(stream))
        if torch.cuda.current_device() == self.device.index:
            check(_lib().nvrar_all_reduce_add_rmsnorm(*args))
        else:
            with torch.cuda.device(self.device):
                check(_lib().nvrar_all_reduce_add_rmsnorm(*args))
        return out

    def all_reduce_add_rmsnorm_(self, x, residual, weight, eps):
        """all_reduce_add_rmsnorm with out = x through the torch.library op nvrar::all_reduce_add_rmsnorm_
        (x and residual mutated): the form for torch.compile and torch's graph capture."""
        return _torch().ops.nvrar.all_reduce_add_rmsnorm_(x, residual, weight, float(eps), self.id)

    def all_reduce_(self, tensor, op="sum"):
        """In place through the torch.library op nvrar::all_reduce_: the form for torch.compile
        (fullgraph included) and for graphs captured by torch; same rules as all_reduce."""
        return _torch().ops.nvrar.all_reduce_(tensor, self.id, op)
