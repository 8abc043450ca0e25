#!/usr/bin/env bash
# Builds what kcache's GPU run needs (issue 10; docs/GPU_RUN.md) and packs it, with every shared
# library it needs that a bare machine lacks, into one archive that the device tool can carry:
#
#   scripts/gpu-bundle.sh      Release build in build-gpu-bundle/, then .gpu-bundle/ holds
#                              kcache-gpu.tar.xz (at most 48 MiB), run.sh and MANIFEST
#   scripts/gpu-bundle.sh --from-build DIR --out DIR [--no-compress]
#                              packs the programs an existing build made, without building (the
#                              test suite's check, tests/bundle); --no-compress writes a plain tar
#
# The programs: kcache_runtime_tests (with the CUDA suites), kcache_bench_runtime (with the GPU
# benchmarks), kcache and kcache-demo, stripped of debug information. The libraries: everything
# they load (ldd) except the C library's parts that every Linux machine has (run.sh's
# SYSTEM_LIBS); libstdc++ and libgcc_s are carried, since the GPU machine's image may be older
# than Debian 12, and libcuda is not linked at all (kcache dlopen()s the machine's driver).
# Programs get RUNPATH $ORIGIN/../lib and libraries $ORIGIN (patchelf), so that they find the
# bundle's libraries wherever it is unpacked, with or without LD_LIBRARY_PATH, and never the
# build machine's /usr/lib/llvm-19.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

build=build-gpu-bundle out=.gpu-bundle from_build="" compress=1
while (($#)); do
  case "$1" in
  --from-build) from_build=$2 && build=$2 && shift 2 ;;
  --out) out=$2 && shift 2 ;;
  --no-compress) compress=0 && shift ;;
  *)
    echo "usage: $0 [--from-build BUILD_DIR] [--out DIR] [--no-compress]" >&2
    exit 2
    ;;
  esac
done
limit_bytes=$((48 * 1024 * 1024))

for tool in patchelf ldd strip objdump tar xz; do
  command -v "$tool" >/dev/null ||
    { echo "gpu-bundle: $tool not found (bash scripts/setup.sh installs it)" >&2 && exit 1; }
done

programs=(tests/runtime/kcache_runtime_tests bench/kcache_bench_runtime tools/kcache/kcache
  tools/kcache-demo)
if [[ -z $from_build ]]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKCACHE_BUILD_TESTS=ON \
    -DKCACHE_BUILD_BENCH=ON "${launcher[@]}" >/dev/null
  cmake --build "$build" -j "${JOBS:-$(nproc)}" --target kcache_runtime_tests \
    kcache_bench_runtime kcache kcache-demo
fi
# The bundle is for a CUDA machine: a build without cuda.h has the backend compiled out.
if ! grep -q '^KCACHE_CUDA_INCLUDE_DIR:PATH=/' "$build/CMakeCache.txt"; then
  echo "gpu-bundle: $build was configured without cuda.h: the CUDA backend is compiled out" \
    "(install the CUDA toolkit headers or set KCACHE_CUDA_HOME)" >&2
  exit 1
fi
if grep -q '^KCACHE_SANITIZER:STRING=.' "$build/CMakeCache.txt"; then
  echo "gpu-bundle: $build is a sanitizer build; its programs need the sanitizer's runtime" >&2
  exit 1
fi
for p in "${programs[@]}"; do
  [[ -x $build/$p ]] || { echo "gpu-bundle: $build/$p was not built" >&2 && exit 1; }
done

mapfile -t system_libs < <(bash scripts/gpu-bundle/run.sh system-libs)
is_system_lib() {
  local s
  for s in "${system_libs[@]}"; do [[ $1 == "$s" ]] && return 0; done
  return 1
}

stage="$build/gpu-bundle-stage"
rm -rf "$stage"
mkdir -p "$stage/kcache-gpu/bin" "$stage/kcache-gpu/lib" "$out"
top="$stage/kcache-gpu"

for p in "${programs[@]}"; do
  cp "$build/$p" "$top/bin/"
  strip --strip-debug "$top/bin/${p##*/}"
done

# Every library the programs load, under the name they ask for (ldd: the transitive closure).
for p in "${programs[@]}"; do
  while IFS= read -r line; do
    [[ $line == *" => "* ]] || continue
    name=$(sed -E 's/^[[:space:]]*([^ ]+) => .*/\1/' <<<"$line")
    if [[ $line == *"=> not found"* ]]; then
      echo "gpu-bundle: $p needs $name, which is not found here" >&2
      exit 1
    fi
    path=$(sed -E 's/.* => (.*) \(0x[0-9a-f]+\)$/\1/' <<<"$line")
    is_system_lib "$name" && continue
    [[ -e $top/lib/$name ]] || cp -L "$path" "$top/lib/$name"
  done < <(env -u LD_LIBRARY_PATH ldd "$build/$p")
done
chmod u+w "$top"/lib/*
# shellcheck disable=SC2016 # $ORIGIN is for the dynamic loader, not the shell
for f in "$top"/bin/*; do patchelf --set-rpath '$ORIGIN/../lib' "$f"; done
# shellcheck disable=SC2016
for f in "$top"/lib/*; do patchelf --set-rpath '$ORIGIN' "$f"; done

# The newest glibc symbol version anything in the bundle needs: run.sh checks the machine's.
glibc_required=$(for f in "$top"/bin/* "$top"/lib/*; do objdump -T "$f"; done |
  grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/GLIBC_//' | sort -uV | tail -1)
cuda_version=$(sed -nE 's/^#define CUDA_VERSION ([0-9]+).*/\1/p' \
  "$(sed -n 's/^KCACHE_CUDA_INCLUDE_DIR:PATH=//p' "$build/CMakeCache.txt")/cuda.h")
{
  echo "kcache GPU bundle (scripts/gpu-bundle.sh; docs/GPU_RUN.md)"
  echo "commit: $(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)$(
    git -C "$repo" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "build: $build, $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")," \
    "$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")"
  echo "cuda.h: CUDA_VERSION $cuda_version"
  echo "glibc_required: $glibc_required"
  echo "system libraries (from the machine): ${system_libs[*]}"
  echo "files:"
  (cd "$top" && find bin lib -type f -printf '  %p %s\n' | sort)
} >"$top/MANIFEST"

rm -f "$out/kcache-gpu.tar.xz" "$out/kcache-gpu.tar"
if ((compress)); then
  archive="$out/kcache-gpu.tar.xz"
  tar -C "$stage" -cf - kcache-gpu | xz -9e -T0 >"$archive"
else
  archive="$out/kcache-gpu.tar"
  tar -C "$stage" -cf "$archive" kcache-gpu
fi
cp scripts/gpu-bundle/run.sh "$out/run.sh"
cp "$top/MANIFEST" "$out/MANIFEST"
size=$(stat -c %s "$archive")
unpacked=$(du -sb "$top" | cut -f1)
echo "gpu-bundle: $archive: $((size / 1024)) KiB ($((unpacked / 1024 / 1024)) MiB unpacked," \
  "$(find "$top/lib" -type f | wc -l) libraries), glibc >= $glibc_required"
if ((compress && size > limit_bytes)); then
  echo "gpu-bundle: $archive is over the 48 MiB the device tool can carry beside the tree" >&2
  exit 1
fi
