#!/usr/bin/env bash
# Installs the already-built library into a temporary prefix, then builds and runs a consumer against it
# twice: with CMake's find_package(ebpf) and with pkg-config. Arguments: BUILD_DIR CXX CXX_FLAGS LINK_FLAGS.
set -euo pipefail
build="$1"; cxx="$2"; cxxflags="$3"; ldflags="$4"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/ebpf/map.hpp"
cmake -S "$here/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
pcdir=$(dirname "$(find "$work/prefix" -name ebpf.pc | head -1)")
# The .pc file records the configured prefix; point pkg-config at the temporary one.
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --define-variable=prefix="$work/prefix" --cflags --libs ebpf)
# shellcheck disable=SC2086
"$cxx" $cxxflags "$here/consumer/main.cpp" -o "$work/consumer-pc" $flags $ldflags
"$work/consumer-pc"
echo "installed tree works with find_package and pkg-config"
