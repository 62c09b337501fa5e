import os
import sys
from pathlib import Path

# Tests run against the source tree (and its build/ for libnvrar.so) unless nvrar is installed.
ROOT = Path(__file__).resolve().parents[2]
if os.environ.get("NVRAR_TEST_INSTALLED") != "1":
    sys.path.insert(0, str(ROOT / "python"))
