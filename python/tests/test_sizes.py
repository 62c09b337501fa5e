"""Size tokens of the tuner's command line."""
import pytest

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
