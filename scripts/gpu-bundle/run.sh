#!/usr/bin/env bash
# Runs kcache's GPU bundle (made by scripts/gpu-bundle.sh) on the machine it was carried to:
#
#   bash .gpu-bundle/run.sh STEP [OUT]
#
# STEP is one of
#   info      the machine (OS, glibc, GPU, driver, CUDA toolkit, compute-sanitizer), the bundle's
#             MANIFEST, and `check`
#   check     every program and library of the bundle resolves each library it needs from the
#             bundle or from the machine's C library (SYSTEM_LIBS), without LD_LIBRARY_PATH
#   tests     kcache_runtime_tests, one process per test as ctest runs them, with
#             KCACHE_REQUIRE_GPU=cuda: a CUDA test that cannot find its GPU fails, never skips
#   sanitize  compute-sanitizer --tool memcheck over the CUDA tests, in one process (the test that
#             faults on purpose, and the missing-driver test, are left out)
#   bench     kcache_bench_runtime (host and CUDA benchmarks side by side), JSON out
#   demo      kcache-demo, then `kcache run` twice (the second is served by the disk store), on
#             the GPU where /dev/nvidia0 exists, else on the best device present
#   all       info, tests, bench, demo, sanitize, within KCACHE_BUNDLE_BUDGET seconds (default
#             560); a step that would start with too little time left is reported as not run
#
# OUT (default /tmp/kcache-gpu-out) receives summary.txt, tests.log, tests.tsv, sanitize.log,
# bench.json, bench.log and demo.log: at most 8 files, none in a subfolder. The bundle is
# unpacked once into KCACHE_BUNDLE_DIR (default /tmp/kcache-gpu); each step's KCACHE_CACHE_DIR
# starts empty under KCACHE_BUNDLE_CACHE (default /tmp/kcache-gpu-cache). Environment read:
#   KCACHE_CUDA_HOME            the CUDA toolkit (nvJitLink, libdevice); default /usr/local/cuda
#   KCACHE_BUNDLE_JOBS          tests run at once (default 4)
#   KCACHE_BUNDLE_TEST_FILTER   a gtest filter for `tests` (default: every test)
#   KCACHE_BUNDLE_BENCH_ARGS    more arguments for kcache_bench_runtime
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
step=${1:-}
out=${2:-/tmp/kcache-gpu-out}
root=${KCACHE_BUNDLE_DIR:-/tmp/kcache-gpu}
cache_root=${KCACHE_BUNDLE_CACHE:-/tmp/kcache-gpu-cache}
export KCACHE_CUDA_HOME=${KCACHE_CUDA_HOME:-/usr/local/cuda}

# What the machine must provide: the C library's parts and the dynamic loader. Everything else a
# program of the bundle links is carried (libcuda is dlopen()ed from the machine's driver).
system_libs=(linux-vdso.so.1 ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libdl.so.2
  libpthread.so.0 librt.so.1)

usage() {
  echo "usage: $0 info|check|tests|sanitize|bench|demo|all [OUT]" >&2
  exit 2
}

say() { echo "run.sh: $*" | tee -a "$out/summary.txt"; }

# --- unpacking ------------------------------------------------------------------------------

unpack() {
  local archive=""
  for a in "$here/kcache-gpu.tar.xz" "$here/kcache-gpu.tar"; do
    [[ -f $a ]] && archive=$a && break
  done
  [[ -n $archive ]] || {
    echo "run.sh: no kcache-gpu.tar.xz or kcache-gpu.tar beside $0: run scripts/gpu-bundle.sh" >&2
    exit 1
  }
  local stamp
  stamp=$(cksum <"$archive")
  if [[ -f $root/.unpacked && $(cat "$root/.unpacked") == "$stamp" ]]; then
    return
  fi
  rm -rf "$root" && mkdir -p "$root"
  # tar needs the xz program for .xz; Python's tarfile (lzma) stands in where it is missing.
  if ! tar -xf "$archive" -C "$root" --strip-components=1 2>/dev/null; then
    rm -rf "$root" && mkdir -p "$root"
    python3 - "$archive" "$root" <<'EOF' || { echo "run.sh: cannot unpack $archive" >&2; exit 1; }
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        m.name = m.name.split("/", 1)[1] if "/" in m.name else ""
        if m.name:
            t.extract(m, sys.argv[2])
EOF
  fi
  echo "$stamp" >"$root/.unpacked"
}

# --- check ----------------------------------------------------------------------------------

is_system_lib() {
  local name=$1 s
  for s in "${system_libs[@]}"; do [[ $name == "$s" ]] && return 0; done
  return 1
}

# Every ELF file of the bundle: each library it needs resolves, from $root/lib or, for the C
# library's parts only, from the machine. ldd runs without LD_LIBRARY_PATH: RUNPATH must do it.
check() {
  local bad=0 files=0 f line name path real_root
  real_root=$(realpath "$root")
  for f in "$root"/bin/* "$root"/lib/*; do
    files=$((files + 1))
    local listing
    if ! listing=$(env -u LD_LIBRARY_PATH ldd "$f" 2>&1); then
      echo "check: ldd $f failed: $listing"
      bad=1
      continue
    fi
    while IFS= read -r line; do
      line=${line#"${line%%[![:space:]]*}"}
      [[ -z $line || $line == "statically linked" ]] && continue
      if [[ $line == *"not found"* ]]; then
        echo "check: ${f#"$root"/}: ${line%% *} not found"
        bad=1
        continue
      fi
      name=${line%% *}
      path=""
      [[ $line == *" => "* ]] && path=${line#* => } && path=${path%% (*}
      [[ $line != *" => "* && $name == /* ]] && path=$name && name=${name##*/}
      [[ -n $path ]] && path=$(realpath -m "$path")
      if [[ $path == "$real_root"/lib/* ]]; then
        continue
      fi
      if is_system_lib "$name"; then
        continue
      fi
      echo "check: ${f#"$root"/}: $name resolves outside the bundle: ${path:-(no path)}"
      bad=1
    done <<<"$listing"
  done
  if ((bad)); then
    echo "check: FAILED ($files files)"
    return 1
  fi
  echo "check: ok: $files programs and libraries resolve from the bundle or the C library" \
    "(${system_libs[*]})"
}

# --- info -----------------------------------------------------------------------------------

info() {
  {
    echo "== machine"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    uname -a
    grep -h PRETTY_NAME /etc/os-release 2>/dev/null
    echo "glibc: $(getconf GNU_LIBC_VERSION 2>/dev/null || echo unknown)"
    echo "cpus: $(nproc)"
    if command -v nvidia-smi >/dev/null; then
      nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,clocks.max.sm \
        --format=csv 2>&1
    else
      echo "nvidia-smi: not found"
    fi
    head -1 /proc/driver/nvidia/version 2>/dev/null || echo "/proc/driver/nvidia/version: absent"
    ls -l /dev/nvidia0 2>&1
    echo "KCACHE_CUDA_HOME=$KCACHE_CUDA_HOME:"
    ls "$KCACHE_CUDA_HOME"/lib64/libnvJitLink.so* "$KCACHE_CUDA_HOME"/nvvm/libdevice/*.bc 2>&1
    local sanitizer
    sanitizer=$(find_sanitizer) && "$sanitizer" --version 2>&1 | tail -1
    echo "== bundle ($root)"
    cat "$root/MANIFEST"
  } 2>&1 | tee -a "$out/summary.txt"
  local need have
  need=$(sed -n 's/^glibc_required: //p' "$root/MANIFEST")
  have=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed 's/^glibc //')
  if [[ -n $need && -n $have && $(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1) != "$need" ]]; then
    say "glibc $have is older than the $need the bundle needs: build the bundle on an older system"
    return 1
  fi
  check 2>&1 | tee -a "$out/summary.txt"
}

find_sanitizer() {
  local c
  for c in "$(command -v compute-sanitizer 2>/dev/null)" "$KCACHE_CUDA_HOME/bin/compute-sanitizer" \
    "$KCACHE_CUDA_HOME/compute-sanitizer/compute-sanitizer"; do
    [[ -n $c && -x $c ]] && echo "$c" && return 0
  done
  return 1
}

# --- tests ----------------------------------------------------------------------------------

gpu_present() { [[ -e /dev/nvidia0 ]]; }

# The tests' names, Suite.Test, as gtest lists them (filtered by KCACHE_BUNDLE_TEST_FILTER).
list_tests() {
  local filter=${KCACHE_BUNDLE_TEST_FILTER:-*} suite="" line
  "$root/bin/kcache_runtime_tests" --gtest_list_tests --gtest_filter="$filter" | while IFS= read -r line; do
    if [[ $line == " "* ]]; then
      line=${line#"${line%%[! ]*}"}
      echo "$suite${line%% *}"
    elif [[ -n $line ]]; then
      suite=${line%% *}
    fi
  done
}

# One test in its own process; writes DIR/<n>.log and a line of tests.tsv to DIR/<n>.tsv.
run_one() {
  local n=$1 name=$2 dir=$3 log="$3/$1.log" start rc status note ms
  start=$(date +%s%N)
  timeout --kill-after=10 300 env LD_LIBRARY_PATH="$root/lib" KCACHE_REQUIRE_GPU=cuda \
    KCACHE_CACHE_DIR="$cache_root/tests" "$root/bin/kcache_runtime_tests" \
    --gtest_filter="$name" --gtest_color=no >"$log" 2>&1
  rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  note=""
  if ((rc == 0)) && grep -q '^\[  SKIPPED \]' "$log"; then
    status=skipped
    note=$(grep -A1 -m1 ': Skipped$' "$log" | tail -1)
  elif ((rc == 0)) && grep -q '^\[  PASSED  \] 1 test' "$log"; then
    status=passed
  elif ((rc == 124 || rc == 137)); then
    status=timeout
  else
    status=failed
    note=$(grep -m1 -A3 -E 'Failure$|FAILED:|terminate|Segmentation|Aborted' "$log" | tr '\n' ' ')
    note=${note:0:400}
    [[ -z $note ]] && note="exit $rc: $(tail -1 "$log")"
  fi
  printf 'tests\t%s\t%s\t%d.%03d\t%s\n' "$name" "$status" $((ms / 1000)) $((ms % 1000)) \
    "${note//$'\t'/ }" >"$dir/$n.tsv"
}

tests() {
  local jobs=${KCACHE_BUNDLE_JOBS:-4} dir names n=0 running=0 name
  dir=$(mktemp -d /tmp/kcache-gpu-tests.XXXXXX)
  rm -rf "$cache_root/tests" && mkdir -p "$cache_root/tests"
  mapfile -t names < <(list_tests)
  if ((${#names[@]} == 0)); then
    say "tests: no test listed (filter '${KCACHE_BUNDLE_TEST_FILTER:-*}')"
    return 1
  fi
  say "tests: ${#names[@]} tests of kcache_runtime_tests, $jobs at a time, KCACHE_REQUIRE_GPU=cuda"
  for name in "${names[@]}"; do
    n=$((n + 1))
    run_one "$n" "$name" "$dir" &
    running=$((running + 1))
    if ((running >= jobs)); then
      wait -n
      running=$((running - 1))
    fi
  done
  wait
  : >"$out/tests.log"
  : >"$out/tests.tsv"
  for ((i = 1; i <= n; i++)); do
    echo "=== ${names[i - 1]}" >>"$out/tests.log"
    cat "$dir/$i.log" >>"$out/tests.log"
    cat "$dir/$i.tsv" >>"$out/tests.tsv"
  done
  rm -rf "$dir"
  local passed failed skipped
  passed=$(grep -c $'\tpassed\t' "$out/tests.tsv")
  skipped=$(grep -c $'\tskipped\t' "$out/tests.tsv")
  failed=$((n - passed - skipped))
  say "tests: $passed passed, $failed failed or timed out, $skipped skipped, of $n"
  grep -v $'\tpassed\t' "$out/tests.tsv" | cut -f2- | sed 's/^/  /' | tee -a "$out/summary.txt"
  ((failed == 0))
}

# --- sanitize -------------------------------------------------------------------------------

sanitize() {
  local sanitizer rc
  if ! sanitizer=$(find_sanitizer); then
    say "sanitize: compute-sanitizer not found (PATH, $KCACHE_CUDA_HOME/bin)"
    return 1
  fi
  rm -rf "$cache_root/sanitize" && mkdir -p "$cache_root/sanitize"
  # The faulting kernel is the test's purpose there; the missing-driver test loads no driver.
  local filter='*cuda*:*Cuda*:GpuBackends.*:-CudaGpu.AFaultingKernelMakesTheDeviceUnusableAndNothingElse:*MissingDriver*'
  say "sanitize: $sanitizer --tool memcheck, kcache_runtime_tests --gtest_filter='$filter'"
  KCACHE_REQUIRE_GPU=cuda KCACHE_CACHE_DIR="$cache_root/sanitize" \
    "$sanitizer" --tool memcheck --error-exitcode 86 --print-limit 200 \
    "$root/bin/kcache_runtime_tests" --gtest_filter="$filter" --gtest_color=no \
    >"$out/sanitize.log" 2>&1
  rc=$?
  local errors tests
  errors=$(grep -m1 'ERROR SUMMARY' "$out/sanitize.log" || echo "no ERROR SUMMARY line")
  tests=$(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\]' "$out/sanitize.log" | tr '\n' ' ')
  say "sanitize: exit $rc; $errors; $tests"
  ((rc == 0))
}

# --- bench ----------------------------------------------------------------------------------

bench() {
  rm -rf "$cache_root/bench" && mkdir -p "$cache_root/bench"
  local commit rc
  commit=$(sed -n 's/^commit: //p' "$root/MANIFEST")
  say "bench: kcache_bench_runtime --benchmark_repetitions=3 (medians in bench.json)"
  # shellcheck disable=SC2086
  env LD_LIBRARY_PATH="$root/lib" KCACHE_CACHE_DIR="$cache_root/bench" \
    "$root/bin/kcache_bench_runtime" --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true --benchmark_out="$out/bench.json" \
    --benchmark_out_format=json --benchmark_context=kcache_commit="$commit" \
    ${KCACHE_BUNDLE_BENCH_ARGS:-} >"$out/bench.log" 2>&1
  rc=$?
  # A benchmark that fails (or skips, without a CUDA device) says so, and the program exits 0.
  local errors
  errors=$(grep -c 'ERROR OCCURRED' "$out/bench.log")
  say "bench: exit $rc, $errors benchmark(s) with an error;" \
    "$(grep -c '"name"' "$out/bench.json" 2>/dev/null || echo 0) rows in bench.json"
  grep -E '^BM_Cuda.*_median|ERROR OCCURRED' "$out/bench.log" | tee -a "$out/summary.txt"
  ((rc == 0 && errors == 0))
}

# --- demo -----------------------------------------------------------------------------------

demo() {
  local device=best rc=0
  gpu_present && device=cuda
  rm -rf "$cache_root/demo" && mkdir -p "$cache_root/demo"
  : >"$out/demo.log"
  local -a demo_env=(env LD_LIBRARY_PATH="$root/lib" KCACHE_CACHE_DIR="$cache_root/demo")
  {
    echo "== kcache-demo"
    "${demo_env[@]}" "$root/bin/kcache-demo" || rc=1
    for pass in first second; do
      echo
      echo "== kcache run --device $device ($pass run)"
      "${demo_env[@]}" "$root/bin/kcache" run --device "$device" || rc=1
    done
  } >>"$out/demo.log" 2>&1
  say "demo: kcache-demo and kcache run --device $device twice: $( ((rc == 0)) && echo ok || echo FAILED)"
  grep -E '^device:|all results match|FAILED|^store:' "$out/demo.log" | tee -a "$out/summary.txt"
  ((rc == 0))
}

# --- all ------------------------------------------------------------------------------------

all() {
  local budget=${KCACHE_BUNDLE_BUDGET:-560} start=$SECONDS status=0 s left rc
  # The least each step needs to be worth starting, in seconds.
  local -A least=([info]=5 [tests]=60 [bench]=60 [demo]=20 [sanitize]=60)
  for s in info tests bench demo sanitize; do
    left=$((budget - (SECONDS - start)))
    if ((left < least[$s])); then
      say "$s: not run: ${left}s of the ${budget}s budget left (run it alone: run.sh $s OUT)"
      status=1
      continue
    fi
    say "== $s (${left}s left)"
    # Each step in its own process group under timeout, so that one that hangs ends in time.
    timeout --kill-after=10 "$left" bash "$here/run.sh" "$s" "$out"
    rc=$?
    ((rc == 124 || rc == 137)) && say "$s: stopped at the end of the budget"
    ((rc != 0)) && status=1
  done
  say "all: $( ((status == 0)) && echo 'every step passed' || echo 'a step failed or did not run') in $((SECONDS - start))s"
  return $status
}

case "$step" in
info | check | tests | sanitize | bench | demo | all) ;;
system-libs) # for scripts/gpu-bundle.sh: what it leaves out
  printf '%s\n' "${system_libs[@]}"
  exit 0
  ;;
*) usage ;;
esac
mkdir -p "$out"
unpack
"$step"
