#!/usr/bin/env python3
"""Which kernels two builds of libnvrar.so compiled differently: per kernel, the SASS compared with
addresses and encodings stripped; a refactor that should change nothing must print no `differs`.
Needs cuobjdump and nvdisasm on PATH (the toolkit's, or the nvidia-cuda-cuobjdump and
nvidia-cuda-nvdisasm wheels). No GPU needed.

    scripts/sass_diff.py OLD/libnvrar.so NEW/libnvrar.so
"""
import collections
import re
import subprocess
import sys


def kernels(lib):
    out = subprocess.run(["cuobjdump", "-sass", lib], check=True, capture_output=True, text=True).stdout
    if "Function :" not in out:
        sys.exit(f"sass_diff: no SASS from cuobjdump for {lib} (is nvdisasm on PATH?)")
    found, name, body = {}, None, []
    for line in out.splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            if name:
                found[name] = body
            name, body = m.group(1), []
            continue
        if name:
            line = re.sub(r"/\*[0-9a-f]{4}\*/|/\* 0x[0-9a-f]+ \*/", "", line).strip()
            if line:
                body.append(line)
    if name:
        found[name] = body
    return found


def family(symbol):
    m = re.search(r"nvrar\d+([a-z_]+)", symbol)
    return m.group(1) if m else symbol


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    old, new = kernels(sys.argv[1]), kernels(sys.argv[2])
    same, differs, added, gone = (collections.Counter() for _ in range(4))
    for name in sorted(set(old) | set(new)):
        kind = added if name not in old else gone if name not in new else same if old[name] == new[name] else differs
        kind[family(name)] += 1
    for fam in sorted(set(same) | set(differs) | set(added) | set(gone)):
        total = same[fam] + differs[fam] + added[fam] + gone[fam]
        state = ", ".join(f"{c[fam]} {word}" for c, word in ((differs, "differ"), (added, "new"), (gone, "gone"))
                          if c[fam]) or "same"
        print(f"{fam:40s} {total:4d} functions, {state}")
    print(f"{sum(differs.values())} of {sum(same.values()) + sum(differs.values())} functions in both builds differ; "
          f"{sum(added.values())} new, {sum(gone.values())} gone")
    return 1 if differs or added or gone else 0


if __name__ == "__main__":
    sys.exit(main())
