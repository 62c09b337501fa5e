"""nvrar.resolved_config: what nvrar_comm_init would use, as the C library resolves it (config fields,
then the NVRAR_* environment, then defaults), and its refusals. CPU only."""
import pytest

import nvrar

pytestmark = pytest.mark.skipif(not nvrar.NVRAR_AVAILABLE, reason="libnvrar.so not built: " + nvrar.unavailable_reason())


@pytest.fixture
def env(monkeypatch):
    for name in ("NVRAR_TIMEOUT", "NVRAR_NUM_BLOCKS", "NVRAR_ALGO", "NVRAR_MEMORY_BYTES", "NVRAR_RINGS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(env):
    got = nvrar.resolved_config()
    assert got["timeout_seconds"] == 30 and got["algo"] == "auto" and got["num_blocks"] == 0
    assert got["device"] == -1 and got["memory_bytes"] == 256 << 20


def test_environment_then_fields(env):
    env.setenv("NVRAR_NUM_BLOCKS", "48")
    env.setenv("NVRAR_ALGO", "two_shot")
    assert nvrar.resolved_config()["num_blocks"] == 48
    assert nvrar.resolved_config()["algo"] == "twoshot"
    got = nvrar.resolved_config(num_blocks=16, algo="ring", memory_bytes=64 << 20)
    assert got["num_blocks"] == 16 and got["algo"] == "ring" and got["memory_bytes"] == 64 << 20


def test_refusals_name_the_variable_or_field(env):
    env.setenv("NVRAR_TIMEOUT", "never")
    with pytest.raises(nvrar.NvrarError, match='NVRAR_TIMEOUT="never" is invalid'):
        nvrar.resolved_config()
    env.delenv("NVRAR_TIMEOUT")
    with pytest.raises(nvrar.NvrarError, match="num_blocks"):
        nvrar.resolved_config(num_blocks=100000)
    with pytest.raises(ValueError, match="'threeshot' is not one of"):
        nvrar.resolved_config(algo="threeshot")
    with pytest.raises(TypeError, match="no field 'colour'"):
        nvrar.resolved_config(colour=1)
