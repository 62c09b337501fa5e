"""Fork after `import nvrar`: the child can use the package (no communicator is inherited). Fork after
a communicator exists is checked where torch and a GPU are (the child's copy refuses to be used)."""
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
