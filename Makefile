# Two commands for a fresh Debian 12 machine (as root): `make demo` and `make test`.
# Both install the Debian packages they need, configure and build first.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
APT_PACKAGES := build-essential cmake g++ clang-19 llvm-19 lld-19 libclang-rt-19-dev googletest libgtest-dev libgmock-dev \
  libbenchmark-dev libbpf-dev libbpf-tools xdp-tools libxdp1 golang-github-cilium-ebpf-dev iproute2 ethtool \
  nftables nginx-light wrk pkg-config libyaml-cpp-dev libcpp-httplib-dev libcli11-dev bpftool linux-libc-dev tcpdump \
  systemtap-sdt-dev gzip

.PHONY: deps build configure-release build-release demo test test-unit test-kernel bench bench-smoke fuzz clean

deps:
	@bash .ci/install-deps $(APT_PACKAGES)

# Tests run under ASan+UBSan (the asan preset); benchmarks and the demo use the release preset.
build: deps
	cmake --preset asan >/dev/null
	cmake --build build/asan -j$(JOBS)

configure-release: deps
	cmake --preset release -DEBPF_BUILD_TESTS=OFF >/dev/null

build-release: configure-release
	cmake --build build/release -j$(JOBS)

# The load balancer demo: client, balancer and three backends in private network namespaces (see lb/README.md).
DEMO_SECONDS ?= 20
demo: configure-release
	cmake --build build/release -j$(JOBS) --target ebpf-lb
	./build/release/lb/ebpf-lb demo --duration $(DEMO_SECONDS)

# Every test (unit + kernel), then each benchmark once as a smoke run, then the fuzzers for a bounded time.
test: build
	cd build/asan && ctest --output-on-failure -j2 --timeout 900
	$(MAKE) --no-print-directory bench-smoke
	@if ls fuzz/*_fuzz.cpp >/dev/null 2>&1; then $(MAKE) --no-print-directory fuzz; fi
	@echo "make test: all tests, benchmark smoke runs and fuzzers passed"

test-unit: build
	cd build/asan && ctest --output-on-failure -j2 -L unit

test-kernel: build
	cd build/asan && ctest --output-on-failure -L kernel

bench-smoke: configure-release
	cmake --build build/release -j$(JOBS) --target benchmarks
	bash .ci/bench-smoke build/release

bench: build-release
	@set -e; for b in build/release/bench/bench_* $$(ls build/release/lb/lb_bench_* 2>/dev/null); do $$b; done

FUZZ_SECONDS ?= 20
fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build build/fuzz -j$(JOBS) --target fuzzers
	@set -e; for f in build/fuzz/fuzz/fuzz_*; do name=$$(basename $$f | sed 's/^fuzz_//'); \
	  echo "== $$f ($(FUZZ_SECONDS)s)"; mkdir -p build/fuzz/corpus-$$name; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 build/fuzz/corpus-$$name fuzz/corpus/$$name \
	    > build/fuzz/$$name.log 2>&1 || { tail -40 build/fuzz/$$name.log; exit 1; }; tail -1 build/fuzz/$$name.log; done

clean:
	rm -rf build
