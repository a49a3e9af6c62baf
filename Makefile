# luatrain — thin wrapper over CMake. `make demo` and `make test` work on a
# fresh Debian machine: they install the Debian packages first (quietly when
# they are there). See README.md.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: all build deps demo test test-cpu bench asan fuzz clean golden install uninstall deb

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-cpu: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE cuda

demo: build
	bash scripts/demo.sh $(BUILD)/luatrain

# Also times luatrain against Debian's PyTorch on the CPU (bench/cpu_twin.sh),
# which `install-deps.sh bench` installs; without it that part is skipped.
# BENCH_QUICK=1 make bench: the short form of the demo comparison.
bench: build
	@bash scripts/install-deps.sh bench || echo "bench: Debian's python3-torch could not be installed; the PyTorch comparison will be skipped"
	bash bench/run.sh $(BUILD)/luatrain

# Installs into $(PREFIX) (default /usr/local; DESTDIR=... stages it):
# bin/luatrain, the scripts in share/luatrain/scripts, the man page, bash
# completion, libluatrain.so, luatrain.h and the Lua module lua/5.4/luatrain.so.
# The list of installed files is kept as $(BUILD)/installed_files.txt, which
# `make uninstall` removes (a copy: cpack rewrites CMake's own manifest).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)
	cp $(BUILD)/install_manifest.txt $(BUILD)/installed_files.txt

uninstall:
	@bash scripts/uninstall.sh $(BUILD)/installed_files.txt

# The Debian package, $(BUILD)/packages/luatrain_<version>_<arch>.deb
# (install it with: apt install ./$(BUILD)/packages/luatrain_*.deb).
deb: build
	cd $(BUILD) && cpack -G DEB

# The C and Lua tests again under AddressSanitizer + UBSan (CUDA left out).
asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DLT_SANITIZE=address,undefined -DLT_CUDA=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -LE "cuda|slow"

# Every libFuzzer target (tests/fuzz/README.md), built with clang, which
# install-deps.sh fuzz installs with its fuzzer runtime.
fuzz: deps
	@bash scripts/install-deps.sh fuzz
	CC=clang cmake -S . -B build-fuzz -DLT_FUZZ=ON -DLT_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-fuzz -j $(JOBS) --target fuzzers

# The differential suite's PyTorch cases (tests/torch_diff/cases/) and its
# coverage table (docs/torch_diff.md), regenerated with Debian's PyTorch, which
# tests/torch_diff/install_torch.sh installs with apt (only here: `make test`
# reads the committed files). The same PyTorch gives the same bytes.
golden: build
	@bash tests/torch_diff/install_torch.sh
	/usr/bin/python3 tests/torch_diff/gen.py
	@LUATRAIN_WRITE_COVERAGE=1 $(BUILD)/luatrain tests/torch_diff/run.lua 2>/dev/null | tail -2

clean:
	rm -rf $(BUILD) build-asan build-fuzz
