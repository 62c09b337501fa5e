# Thin wrapper over CMake: the README's two commands.
#   make bench   build, then benchmark every local GPU against NCCL (scripts/bench.sh)
#   make test    build, then every test: CPU always, GPU where there are GPUs (skipped otherwise),
#                then the Python package's tests (pytest) against the libnvrar.so of $(BUILD)
# Variables: BUILD (build folder, default build), CMAKE_ARGS (e.g. -DCMAKE_CUDA_ARCHITECTURES=90
# -DNVSHMEM_ROOT=/opt/nvshmem).
BUILD ?= build
CMAKE_ARGS ?=
GENERATOR := $(if $(shell command -v ninja 2>/dev/null),-G Ninja,)

.PHONY: all build test test-asan test-tsan fuzz bench clean

all: build

# Configure when the build folder has no generated build system (a fresh clone, or a configure that
# failed half-way) or when CMAKE_ARGS / the generator changed since the last configure. A changed
# configuration starts from a fresh cache (a removed -D must not linger), keeping the downloaded
# dependencies in $(BUILD)/_deps. The stamp is written only after a configure that succeeded.
CONFIG_STAMP := $(GENERATOR) $(CMAKE_ARGS)
define configure
	@if [ ! -f $(1)/build.ninja ] && [ ! -f $(1)/Makefile ] || \
	    [ "$$(cat $(1)/.nvrar-configure 2>/dev/null)" != "$(strip $(2))" ]; then \
	  rm -f $(1)/CMakeCache.txt $(1)/.nvrar-configure; \
	  cmake -S . -B $(1) $(2) && echo "$(strip $(2))" > $(1)/.nvrar-configure; \
	fi
endef

build:
	$(call configure,$(BUILD),$(CONFIG_STAMP))
	cmake --build $(BUILD) -j

test: build
	cd $(BUILD) && ctest --output-on-failure
	@n=$$(nvidia-smi -L 2>/dev/null | grep -c '^GPU'); if [ "$${n:-0}" -lt 4 ]; then \
	  echo "GPU tests that need more GPUs than the $${n:-0} visible here were skipped (they need 2 or 4);"; \
	  echo "with a GPU, the shared tier (ctest -L shared) ran those suites with the ranks sharing it."; fi
	@if python3 -c 'import pytest' 2>/dev/null; then NVRAR_LIBRARY=$(abspath $(BUILD))/lib/libnvrar.so python3 -m pytest -q python/tests; \
	  else echo "Python tests skipped: pytest is not installed (python3 -m pip install pytest)."; fi

# The CPU tests again under AddressSanitizer and UBSan, in their own build folder.
test-asan:
	$(call configure,$(BUILD)-asan,$(GENERATOR) -DNVRAR_ASAN=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS))
	cmake --build $(BUILD)-asan -j
	cd $(BUILD)-asan && ctest --output-on-failure -L cpu

# The multi-threaded CPU tests (label threads) under ThreadSanitizer, in their own build folder.
test-tsan:
	$(call configure,$(BUILD)-tsan,$(GENERATOR) -DNVRAR_TSAN=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS))
	cmake --build $(BUILD)-tsan -j
	cd $(BUILD)-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -L threads

# libFuzzer over the tuned-file parser and the env/config resolver (clang), FUZZ_SECONDS each.
fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-30} OUT_DIR=$(BUILD)/fuzz bash tests/fuzz/run.sh

bench: build
	BUILD=$(BUILD) scripts/bench.sh

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan
