"""Size tokens of the tuner's command line."""
import ctypes

import pytest

from nvrar import _native
from nvrar.sizes import parse_size, parse_sizes


@pytest.mark.parametrize("token,expected", [
    ("4096", 4096), ("64K", 65536), ("64KiB", 65536), ("64kb", 65536), ("1M", 1 << 20), ("1MiB", 1 << 20),
    ("8MiB", 8 << 20), ("1.5MiB", 3 << 19), (".5K", 512), ("2G", 2 << 30), ("12B", 12), (" 3 K ", 3072),
    ("0", 0), (1024, 1024), ("1.0001K", 1025)])
def test_valid_tokens(token, expected):
    assert parse_size(token) == expected


@pytest.mark.parametrize("token", ["", "abc", "-1", "10X", "1KiBB", "1Ki", "iB", "1 M B", "K", "1e3"])
def test_invalid_tokens_name_the_token(token):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(token)


def test_wrong_types():
    with pytest.raises(TypeError):
        parse_size(1.5)
    with pytest.raises(TypeError):
        parse_size(True)
    with pytest.raises(ValueError):
        parse_size(-4)


def test_lists():
    assert parse_sizes("64KiB,1MiB,8MiB") == [65536, 1 << 20, 8 << 20]
    assert parse_sizes("") == []
    with pytest.raises(ValueError, match="'2X'"):
        parse_sizes("1K,2X")


@pytest.mark.parametrize("token", ["99999999999T", "18446744073709551616", 2**64, "16777216T"])
def test_sizes_past_64_bits_are_refused(token):
    with pytest.raises(ValueError, match="64-bit"):  # C's size_t would wrap them silently
        parse_size(token)


# Every token above and more: the C library's parser (nvrar_parse_size, what NVRAR_* sizes go
# through) and this one accept the same tokens and give the same bytes.
SAME_AS_C = ["4096", "64K", "64KiB", "64kb", "64KIB", "1M", "1MiB", "8MiB", "1.5MiB", ".5K", "5.", "2G", "12B",
             " 3 K ", "0", "1.0001K", "16777215.99T", "", ".", "abc", "-1", "+1", "10X", "1KiBB", "1Ki", "iB",
             "1iB", "1 M B", "1K B", "K", "1e3", "0x10", "inf", "nan", "1,5K", "99999999999T", "16777216T",
             "18446744073709551615", "18446744073709551616", "\t7\n"]


@pytest.mark.skipif(_native.LIB is None, reason="libnvrar.so is not loadable here")
@pytest.mark.parametrize("token", SAME_AS_C)
def test_same_answers_as_the_c_library(token):
    out = ctypes.c_size_t(7)
    c_ok = _native.LIB.nvrar_parse_size(token.encode(), ctypes.byref(out)) == 0
    try:
        py = parse_size(token)
    except ValueError:
        py = None
    assert (py is not None) == c_ok, f"{token!r}: Python {'accepts' if py is not None else 'refuses'}, C does not"
    assert py is None or py == out.value
