#!/usr/bin/env bash
# The compiler id (store/compiler_id.cmake) covers every source that shapes an artifact, at any
# depth: changing or adding a file in a nested folder of kernels/ or targets/ changes the id, and
# so every store key; a file outside them (a test) does not.
set -euo pipefail
source_dir=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
root=$scratch/root
mkdir -p "$root"/{kernels/frontends/ir,targets/nvptx,store,tests}
echo 'int a;' >"$root/kernels/kernel_compiler.cpp"
echo 'int b;' >"$root/kernels/frontends/ir/ir_method.cpp"
echo 'int c;' >"$root/targets/nvptx/nvptx_target.cpp"
echo 'int d;' >"$root/store/canonical_ir.cpp"
echo 'int e;' >"$root/store/keys.cpp"
echo 'int f;' >"$root/tests/t.cpp"

id() {
  cmake -DROOT="$root" -DOUT="$scratch/id.inc" -P "$source_dir/store/compiler_id.cmake"
  sed -nE 's/.*KCACHE_COMPILER_ID "([0-9a-f]+)".*/\1/p' "$scratch/id.inc"
}
expect_change() { # WHAT BEFORE AFTER
  if [[ $2 == "$3" ]]; then
    echo "FAIL: $1 left the compiler id at $2" >&2
    exit 1
  fi
  echo "ok: $1 changes the compiler id"
}

first=$(id)
[[ -n $first ]] || { echo "FAIL: no id written" >&2; exit 1; }
[[ $(id) == "$first" ]] || { echo "FAIL: the same sources gave two ids" >&2; exit 1; }

echo 'int b2;' >"$root/kernels/frontends/ir/ir_method.cpp"
changed=$(id)
expect_change "a change in kernels/frontends/ir/" "$first" "$changed"

echo 'int g;' >"$root/targets/nvptx/new_helper.hpp"
added=$(id)
expect_change "a new header in targets/nvptx/" "$changed" "$added"

mkdir -p "$root/kernels/frontends/cuda/detail"
echo 'int h;' >"$root/kernels/frontends/cuda/detail/deep.cpp"
deeper=$(id)
expect_change "a new front end two folders down" "$added" "$deeper"

echo 'int f2;' >"$root/tests/t.cpp"
[[ $(id) == "$deeper" ]] || { echo "FAIL: a test file changed the compiler id" >&2; exit 1; }
echo "ok: a file outside the compiler's sources leaves the id alone"
