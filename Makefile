# Two commands for a fresh Debian 12 machine (as root): `make demo` and `make test`.
# Both install the Debian packages they need, configure and build first.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
APT_PACKAGES := build-essential cmake g++ clang-19 llvm-19 lld-19 libclang-rt-19-dev googletest libgtest-dev libgmock-dev \
  libbenchmark-dev libbpf-dev libbpf-tools xdp-tools libxdp1 golang-github-cilium-ebpf-dev iproute2 ethtool \
  nftables nginx-light wrk pkg-config libyaml-cpp-dev libcpp-httplib-dev libcli11-dev bpftool linux-libc-dev tcpdump

.PHONY: deps configure build demo test test-unit test-kernel bench fuzz clean

deps:
	@bash .ci/install-deps $(APT_PACKAGES)

configure: deps
	cmake --preset release >/dev/null
	cmake --preset asan >/dev/null

build: configure
	cmake --build build/release -j$(JOBS)
	cmake --build build/asan -j$(JOBS)

demo: deps
	cmake --preset release >/dev/null
	cmake --build build/release -j$(JOBS) --target ebpf-demo
	./build/release/examples/ebpf-demo

# Every test (unit + kernel) under ASan+UBSan, then each benchmark once as a smoke run (release build),
# then the fuzzers for a bounded time.
test: build
	cd build/asan && ctest --output-on-failure -j2 -LE bench
	cd build/release && ctest --output-on-failure -L bench
	@if [ -d fuzz ] && ls fuzz/*_fuzz.cpp >/dev/null 2>&1; then $(MAKE) --no-print-directory fuzz; fi

test-unit: build
	cd build/asan && ctest --output-on-failure -j2 -L unit

test-kernel: build
	cd build/asan && ctest --output-on-failure -L kernel

bench: configure
	cmake --build build/release -j$(JOBS)
	for b in build/release/bench/bench_*; do $$b; done

FUZZ_SECONDS ?= 20
fuzz: deps
	CXX=clang++-19 cmake --preset fuzz >/dev/null
	cmake --build build/fuzz -j$(JOBS)
	@for f in build/fuzz/fuzz/fuzz_*; do echo "== $$f ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 fuzz/corpus/$$(basename $$f | sed 's/^fuzz_//') 2>&1 | tail -3 || exit 1; done

clean:
	rm -rf build
