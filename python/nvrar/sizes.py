"""Size tokens as the tuner's command line takes them: 1024, 64K, 64KiB, 64KB, 1M, 1.5MiB, 2G. The
grammar of the C library's nvrar_parse_size (its NVRAR_* sizes), here so that the tuner's arguments
parse without the native library; python/tests/test_sizes.py holds the two to the same answers."""
import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_TOKEN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(I?B?)\s*$", re.IGNORECASE)


def parse_size(token):
    """Bytes for a size token; ValueError naming the token when it is not one. Units are binary
    (K = 1024), as for buffer sizes; the result is rounded up to a whole byte."""
    if isinstance(token, int) and not isinstance(token, bool):
        if token < 0:
            raise ValueError(f"size {token} is negative")
        if token >= 1 << 64:
            raise ValueError(f"size {token} is larger than a 64-bit size")
        return token
    if not isinstance(token, str):
        raise TypeError(f"a size is an int or a string like '64KiB', not {type(token).__name__}")
    m = _TOKEN.match(token)
    if not m or (m.group(3) and not m.group(2) and m.group(3).upper() != "B") or \
            (m.group(3).upper() == "I"):
        raise ValueError(f"{token!r} is not a size (examples: 4096, 64KiB, 1M, 1.5MiB)")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not value < 2.0 ** 64:  # inf too; a size_t in C, where a larger value would wrap silently
        raise ValueError(f"{token!r} is larger than a 64-bit size")
    whole = int(value)
    return whole if whole == value else whole + 1


def parse_sizes(text):
    """A comma-separated list of size tokens, e.g. '64KiB,1MiB,8MiB'."""
    return [parse_size(t) for t in text.split(",") if t.strip()] if text.strip() else []
