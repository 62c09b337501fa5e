"""Fork after `import nvrar`: the child can use the package (no communicator is inherited). Fork after
a communicator exists: the child's copy refuses every call before touching CUDA and frees nothing
(here with a stand-in, no torch or GPU needed; python/tests/gpu/torch_check.py forks a real one)."""
import os

import pytest

import nvrar


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_after_import():
    parent = (nvrar.NVRAR_AVAILABLE, nvrar.version() if nvrar.NVRAR_AVAILABLE else None, nvrar.library_path())
    pid = os.fork()
    if pid == 0:  # the child: the package works and sees the library the parent loaded
        try:
            child = (nvrar.NVRAR_AVAILABLE, nvrar.version() if nvrar.NVRAR_AVAILABLE else None, nvrar.library_path())
            ok = child == parent and nvrar.parse_size("64KiB") == 65536
        except Exception:  # noqa: BLE001 (any failure in the child is the test's failure)
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def forked_copy():
    """What a child forked after init holds: a Communicator whose creating process is another."""
    from nvrar.communicator import Communicator
    copy = object.__new__(Communicator)
    copy._pid, copy._comm, copy._buffers, copy.id = os.getpid() + 1, 0x1234, {}, -1
    return copy


@pytest.mark.parametrize("call", [
    lambda c: c.all_reduce(None),
    lambda c: c.all_reduce_add_rmsnorm(None, None, None, 1e-5),
    lambda c: c.allocate_tensor((4,), None),
    lambda c: c.free(None),
    lambda c: c.local_size,
    lambda c: c.set_params("bfloat16", {}),
], ids=["all_reduce", "all_reduce_add_rmsnorm", "allocate_tensor", "free", "local_size", "set_params"])
def test_a_forked_childs_copy_refuses_before_any_cuda_call(call):
    """Every call refuses with the fork's reason before torch or CUDA is touched (torch would fail in
    the child with its own "Cannot re-initialize CUDA" first)."""
    with pytest.raises(RuntimeError, match="forked child"):
        call(forked_copy())


def test_a_forked_childs_copy_frees_nothing():
    copy = forked_copy()
    copy.close()
    assert copy._comm == 0x1234  # not released: only the parent may free it
