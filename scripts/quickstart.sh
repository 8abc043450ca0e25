#!/usr/bin/env bash
# The README's two commands:
#   scripts/quickstart.sh demo   set up, build and run the main job: the core demo, then the
#                                kernel library on the best device present (kcache run)
#   scripts/quickstart.sh test   set up, build and run the whole test suite: the normal build,
#                                a ThreadSanitizer build and an AddressSanitizer+UBSan build
#                                (clang-19) of every layer, the latter with the libFuzzer
#                                harnesses, each over its corpus and for a short bounded run;
#                                each stage's wall time and the total at the end
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in demo | test) ;; *)
  echo "usage: $0 demo|test" >&2
  exit 2
  ;;
esac

setup_start=$SECONDS
bash scripts/setup.sh
setup_seconds=$((SECONDS - setup_start))
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
run_suite() { # NAME DIR [CTEST ARGS...]
  local name=$1 dir=$2 log
  shift 2
  log=$(mktemp)
  echo "== $name: ctest in $dir $*"
  if ! ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@" 2>&1 | tee "$log"; then
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

# Each stage's wall time, printed as it ends and again in the summary.
stage_names=(setup) stage_seconds=("$setup_seconds")
run_start=$setup_start
timed() { # NAME COMMAND...
  local name=$1 start=$SECONDS
  shift
  "$@"
  local took=$((SECONDS - start))
  stage_names+=("$name") stage_seconds+=("$took")
  printf '== stage "%s": %dm%02ds\n' "$name" $((took / 60)) $((took % 60))
}

# The sanitizer builds: line tables only and -O1 (what the sanitizers recommend): they build in
# much less time than full debug information at -O2, and their reports still name files and lines.
sanitizer_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DKCACHE_BUILD_BENCH=OFF)

timed "main build: configure and build" eval 'configure build && cmake --build build -j "$jobs"'
timed "main build: tests" run_suite "main build" build

# ThreadSanitizer and AddressSanitizer+UBSan over every layer (LLVM itself is not instrumented,
# our code around it is; cmake/sanitizer_defaults.cpp says which ASan options LLVM needs). Each
# configuration is built once and tested from that build. The tests labelled "slow" (whole
# processes compiling the library many times over, the benchmarks) run in the main build only:
# they repeat what other tests check, at a sanitizer's cost.
timed "thread sanitizer: configure and build" eval \
  'configure build-thread -DKCACHE_SANITIZER=thread "${sanitizer_flags[@]}" &&
   cmake --build build-thread -j "$jobs"'
timed "thread sanitizer: tests" run_suite "thread sanitizer" build-thread -LE slow

# AddressSanitizer+UBSan and the libFuzzer harnesses (tests/fuzz) share one clang-19 build: the
# same instrumentation (ASan, UBSan; coverage for the fuzzers), built once. The harnesses run over
# their corpora and for a short bounded run each (label "fuzz").
timed "address sanitizer + fuzzers: configure and build" eval \
  'configure build-address -DCMAKE_CXX_COMPILER=clang++-19 -DKCACHE_SANITIZER=address \
     -DKCACHE_BUILD_FUZZERS=ON "${sanitizer_flags[@]}" &&
   cmake --build build-address -j "$jobs" &&
   cmake --build build-address --target kcache_fuzzers -j "$jobs"'
timed "address sanitizer + fuzzers: tests" run_suite "address sanitizer and fuzzers" build-address -LE slow

echo "== stage times"
for i in "${!stage_names[@]}"; do
  printf '   %-50s %4dm%02ds\n' "${stage_names[$i]}" $((stage_seconds[i] / 60)) $((stage_seconds[i] % 60))
done
took=$((SECONDS - run_start))
printf '   %-50s %4dm%02ds\n' "total" $((took / 60)) $((took % 60))
echo "total: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit $status
