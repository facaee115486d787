#!/usr/bin/env bash
# Runs the whole test suite many times to find flaky tests: builds the tests once, then runs
# `swift test --skip-build` RUNS times (default 20), optionally while BUSY busy-loop processes
# compete for the CPU (BUSY=2 on a 2-core machine leaves the tests about half of it).
#
#   Scripts/stress-suite.sh                  # 20 runs
#   RUNS=2 BUSY=2 Scripts/stress-suite.sh    # 2 runs under contention
#   LOGS=/tmp/stress Scripts/stress-suite.sh -- --filter ChronicleSQLiteTests   # extra swift test arguments after --
#   WIDTH=8 Scripts/stress-suite.sh          # at most 8 tests at once (Swift Testing's experimental
#                                            # SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH)
#   RUN_TIMEOUT=900 Scripts/stress-suite.sh  # a run still going after this many seconds (default 900)
#                                            # is a hang: its threads' stacks go to run-N.stacks, the
#                                            # run is killed and counted as failed, and the next starts
#
# Each run's output goes to $LOGS/run-N.log (default: a new folder under the temp directory).
# Prints `N passed, M failed` and the names of the tests that failed, with how many runs each
# failed in; exits 1 if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-20}
run_timeout=${RUN_TIMEOUT:-900}
busy=${BUSY:-0}
if [ -n "${WIDTH:-}" ]; then export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$WIDTH; fi
logs=${LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/chronicle-stress.XXXXXX")}
mkdir -p "$logs"
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi

if [ -d /opt/swift/usr/bin ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi

busy_pids=()
stop_busy() {
  for pid in "${busy_pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${busy_pids[@]}"; do wait "$pid" 2>/dev/null; done
  busy_pids=()
}
trap stop_busy EXIT
trap 'exit 130' INT TERM

echo "building the tests once (log: $logs/build.log)"
if ! swift build --build-tests >"$logs/build.log" 2>&1; then
  tail -30 "$logs/build.log"
  echo "build failed"
  exit 2
fi

for ((i = 0; i < busy; i++)); do
  bash -c 'while :; do :; done' &
  busy_pids+=("$!")
done
[ "$busy" -gt 0 ] && echo "started $busy busy-loop processes: ${busy_pids[*]}"

passed=0
failed=0
for ((run = 1; run <= runs; run++)); do
  log="$logs/run-$run.log"
  start=$(date +%s)
  swift test --skip-build "${extra[@]}" >"$log" 2>&1 &
  test_pid=$!
  hung=0
  while kill -0 "$test_pid" 2>/dev/null; do
    if [ $(($(date +%s) - start)) -ge "$run_timeout" ]; then
      hung=1
      # The test binary is swift-test's child; record every thread's stack before killing it.
      for pid in $(pgrep -f '\.xctest|PackageTests' || true); do
        if command -v gdb >/dev/null; then
          gdb -p "$pid" -batch -ex 'thread apply all bt' >>"$logs/run-$run.stacks" 2>&1 || true
        fi
        kill -9 "$pid" 2>/dev/null
      done
      kill -9 "$test_pid" 2>/dev/null
      break
    fi
    sleep 1
  done
  if wait "$test_pid" && [ "$hung" = 0 ]; then
    status=passed; passed=$((passed + 1))
  else
    status=FAILED; failed=$((failed + 1))
    [ "$hung" = 1 ] && { status="FAILED (hung, killed after ${run_timeout} s)"; echo "HUNG after ${run_timeout} s" >>"$log"; }
  fi
  echo "run $run/$runs: $status in $(($(date +%s) - start)) s ($log)"
done

stop_busy

echo "$passed passed, $failed failed (logs in $logs)"
if [ "$failed" -gt 0 ]; then
  echo "failing tests (runs failed in):"
  # Swift Testing: `✘ Test name() failed after …`; XCTest: `Test Case '…' failed`; a crash
  # leaves neither, so a failed run without a named test is listed as such.
  for log in "$logs"/run-*.log; do
    names=$(grep -aoE "✘ Test [^ \"]+ failed|✘ Test \"[^\"]+\" failed|Test Case '[^']+' failed" "$log" |
      sed -E "s/^✘ Test //; s/ failed$//; s/^Test Case '([^']+)'/\1/" | sort -u)
    if [ -z "$names" ] && ! grep -aqE "Test run with .* passed|Executed .* with 0 failures" "$log"; then
      names="(no test named: crash or build problem, see $(basename "$log"))"
    fi
    [ -n "$names" ] && printf '%s\n' "$names"
  done | sort | uniq -c | sort -rn
  exit 1
fi
