#!/usr/bin/env bash
# The README's two commands:
#   scripts/quickstart.sh demo   set up, build and run the main job: the core demo, then the
#                                kernel library on the best device present (kcache run)
#   scripts/quickstart.sh test   set up, build and run the whole test suite: the normal build,
#                                a ThreadSanitizer build and an AddressSanitizer+UBSan build of
#                                every layer, and the libFuzzer harnesses (clang-19): each over
#                                its corpus and for a short bounded run
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in demo | test) ;; *)
  echo "usage: $0 demo|test" >&2
  exit 2
  ;;
esac

bash scripts/setup.sh
jobs=$(nproc)

configure() { # DIR ARGS...
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
}

if [[ $mode == demo ]]; then
  configure build
  cmake --build build --target kcache-demo kcache -j "$jobs"
  echo "== the core model: kcache-demo"
  ./build/tools/kcache-demo
  echo
  echo "== the kernel library on the best device present: kcache run"
  exec ./build/tools/kcache/kcache run --device best
fi

total_passed=0 total_failed=0 total_skipped=0 status=0
run_suite() { # NAME DIR
  local name=$1 dir=$2 log
  log=$(mktemp)
  echo "== $name: ctest in $dir"
  if ! ctest --test-dir "$dir" --output-on-failure -j "$jobs" 2>&1 | tee "$log"; then
    status=1
  fi
  local line total failed skipped
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1 || true)
  if [[ -z $line ]]; then
    echo "$name: ctest printed no summary" >&2
    status=1
  else
    failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
    skipped=$(grep -cE '\(Skipped\)$' "$log" || true)
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    total_passed=$((total_passed + total - failed - skipped))
    ((failed == 0)) || status=1
  fi
  rm -f "$log"
}

configure build
cmake --build build -j "$jobs"
run_suite "main build" build

# ThreadSanitizer and AddressSanitizer+UBSan over every layer (LLVM itself is not instrumented,
# our code around it is; tests/sanitizer_defaults.cpp says which ASan options LLVM needs).
configure build-thread -DKCACHE_SANITIZER=thread -DKCACHE_BUILD_BENCH=OFF
cmake --build build-thread -j "$jobs"
run_suite "thread sanitizer" build-thread
configure build-address -DKCACHE_SANITIZER=address -DKCACHE_BUILD_BENCH=OFF
cmake --build build-address -j "$jobs"
run_suite "address sanitizer" build-address

# libFuzzer harnesses (tests/fuzz): our code instrumented with ASan and UBSan, LLVM not.
configure build-fuzz -DCMAKE_CXX_COMPILER=clang++-19 -DKCACHE_BUILD_FUZZERS=ON \
  -DKCACHE_BUILD_TESTS=OFF -DKCACHE_BUILD_BENCH=OFF
cmake --build build-fuzz --target kcache_fuzzers -j "$jobs"
run_suite "fuzzers" build-fuzz

echo "total: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit $status
