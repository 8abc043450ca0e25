#!/usr/bin/env bash
# The GPU bundle's local check (issue 10, section 1): packs the programs BUILD_DIR made with
# scripts/gpu-bundle.sh (uncompressed: the size limit is the real bundle's, checked by the script
# itself), then through the bundle's own run.sh:
#   - check: every program and library resolves each library it needs from the bundle or from
#     the C library (ldd without LD_LIBRARY_PATH, so through the RUNPATHs patchelf set);
#   - tests: the per-test runner over a few host tests and the missing-driver tests;
#   - demo: kcache-demo and `kcache run` twice, where /usr/lib/llvm-19 and the system's LLVM 19
#     library cannot be found (a private mount namespace hides them; where none can be made, the
#     demo runs in plain sight) and, either way, no LLVM library outside the bundle is loaded
#     (the dynamic loader's own log, LD_DEBUG=libs).
set -euo pipefail
build=$(cd "$1" && pwd) source=$(cd "$2" && pwd)
work="$build/gpu-bundle-check"
rm -rf "$work"
mkdir -p "$work/logs" "$work/empty"
fail() {
  echo "FAILED: $*" >&2
  exit 1
}

bash "$source/scripts/gpu-bundle.sh" --from-build "$build" --out "$work/out" --no-compress
export KCACHE_BUNDLE_DIR="$work/unpacked" KCACHE_BUNDLE_CACHE="$work/cache"
run="$work/out/run.sh"

bash "$run" check "$work/logs"

filter='HostDevice.*:GpuBackends/MissingDriver.*'
listed=$("$KCACHE_BUNDLE_DIR/bin/kcache_runtime_tests" --gtest_list_tests --gtest_filter="$filter" |
  grep -c '^  ')
KCACHE_BUNDLE_TEST_FILTER=$filter bash "$run" tests "$work/logs" ||
  fail "run.sh tests: $(cat "$work/logs/tests.tsv")"
passed=$(grep -c $'\tpassed\t' "$work/logs/tests.tsv")
((listed >= 3 && passed == listed)) || fail "run.sh tests: $passed of $listed passed"
echo "run.sh tests: $passed of $listed tests passed, each in its own process"

# The demo where the system's LLVM 19 cannot be found.
llvm_files=()
while IFS= read -r f; do llvm_files+=("$f"); done < <(find /usr/lib/x86_64-linux-gnu \
  -maxdepth 1 -type f -name 'libLLVM*19*' 2>/dev/null)
# shellcheck disable=SC2016 # expanded by the inner shell
hide='set -e
[ -d /usr/lib/llvm-19 ] && mount --bind "$EMPTY" /usr/lib/llvm-19
for f in $LLVM_FILES; do mount --bind /dev/null "$f"; done
if [ -e /usr/lib/llvm-19/lib/libLLVM.so.1 ]; then echo "LLVM 19 still visible" >&2; exit 3; fi
exec "$@"'
namespace=()
if [[ $(id -u) == 0 ]] && unshare --mount --propagation private true 2>/dev/null; then
  namespace=(unshare --mount --propagation private)
elif unshare --map-root-user --mount true 2>/dev/null; then
  namespace=(unshare --map-root-user --mount)
fi
export LD_DEBUG=libs LD_DEBUG_OUTPUT="$work/logs/ld"
demo=(bash "$run" demo "$work/logs")
if ((${#namespace[@]})); then
  EMPTY="$work/empty" LLVM_FILES="${llvm_files[*]}" "${namespace[@]}" sh -c "$hide" sh "${demo[@]}" ||
    fail "run.sh demo without the system's LLVM: $(tail -20 "$work/logs/demo.log")"
  where="with /usr/lib/llvm-19 and ${llvm_files[*]:-no system libLLVM} hidden"
else
  "${demo[@]}" || fail "run.sh demo: $(tail -20 "$work/logs/demo.log")"
  where="in plain sight (no mount namespace can be made here)"
fi
unset LD_DEBUG LD_DEBUG_OUTPUT
matches=$(grep -c 'all results match the C++ references' "$work/logs/demo.log" || true)
((matches == 2)) || fail "kcache run did not match its references twice: $(cat "$work/logs/demo.log")"
loaded=$(cat "$work/logs"/ld.* | sed -nE 's/.*calling init: ([^ ]*libLLVM[^ ]*).*/\1/p' |
  xargs -r realpath -m | sort -u)
[[ -n $loaded ]] || fail "the dynamic loader's log names no LLVM library"
if grep -v "^$(realpath "$KCACHE_BUNDLE_DIR")/lib/" <<<"$loaded"; then
  fail "an LLVM library was loaded from outside the bundle (above)"
fi
echo "run.sh demo: ok $where; LLVM loaded from the bundle only: ${loaded//$'\n'/ }"
rm -rf "$work"
