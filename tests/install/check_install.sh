#!/usr/bin/env bash
# Installs kcache from BUILD_DIR into a scratch prefix, then configures, builds and runs a
# consumer project that uses find_package(kcache): the core alone, and the runtime launching a
# library kernel on the host device; and runs the installed kcache command.
set -euo pipefail
build_dir=$1 source_dir=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# The consumer's compilations go to a store of its own, never the user's.
export KCACHE_CACHE_DIR="$scratch/store"
cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
cmake -S "$source_dir/tests/install/consumer" -B "$scratch/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/build" >/dev/null
"$scratch/build/core_consumer"
"$scratch/build/runtime_consumer"
"$scratch/prefix/bin/kcache" kernels | grep -q saxpy
echo "installed kcache::core and kcache::runtime found, linked and ran; kcache installed"
