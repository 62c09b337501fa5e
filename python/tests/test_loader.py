"""`import nvrar` never fails; NVRAR_AVAILABLE and unavailable_reason() say what happened."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nvrar

ROOT = Path(__file__).resolve().parents[2]


def probe(env_extra):
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = str(ROOT / "python")
    code = "import nvrar; print(nvrar.NVRAR_AVAILABLE); print(nvrar.unavailable_reason())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    available, reason = out.stdout.split("\n", 1)
    return available == "True", reason.strip()


def test_missing_library_is_reported_not_raised():
    available, reason = probe({"NVRAR_LIBRARY": "/nonexistent/libnvrar.so"})
    assert not available
    assert "/nonexistent/libnvrar.so" in reason and "no such file" in reason


def test_broken_library_is_reported_not_raised(tmp_path):
    fake = tmp_path / "libnvrar.so"
    fake.write_text("not an ELF file")
    available, reason = probe({"NVRAR_LIBRARY": str(fake)})
    assert not available
    assert str(fake) in reason


def test_unavailable_calls_raise_with_the_reason(monkeypatch):
    monkeypatch.setattr(nvrar._native, "LIB", None)
    monkeypatch.setattr(nvrar._native, "REASON", "because of a test")
    with pytest.raises(RuntimeError, match="because of a test"):
        nvrar.version()


@pytest.mark.skipif(not nvrar.NVRAR_AVAILABLE, reason="libnvrar.so not built: " + nvrar.unavailable_reason())
def test_built_library_loads_and_reports_its_version():
    assert nvrar.unavailable_reason() == ""
    assert nvrar.library_path().endswith("libnvrar.so")
    assert nvrar.version() == nvrar.__version__


def test_every_package_directory_is_searched(monkeypatch, tmp_path):
    """An editable install keeps the Python files in the source tree and puts lib/ in site-packages;
    the package's __path__ holds both and the loader looks in each, in order."""
    monkeypatch.delenv("NVRAR_LIBRARY", raising=False)
    monkeypatch.setattr(nvrar, "__path__", [str(tmp_path / "site"), str(ROOT / "python" / "nvrar")])
    found = list(nvrar._native._candidates())
    assert found[:2] == [str(tmp_path / "site" / "lib" / "libnvrar.so"),
                         str(ROOT / "python" / "nvrar" / "lib" / "libnvrar.so")]
    source_tree = Path(nvrar._native.__file__).resolve().parents[2]
    assert found[2] == str(source_tree / "build" / "lib" / "libnvrar.so")
