#!/usr/bin/env bash
# The simulation soak before a release: runs the projection-engine (plain, stop policy with
# resume, rebuilds) and process-manager simulations (Tests/ChronicleTests/Simulation) and the
# relay's (Tests/ChronicleRelayTests/RelaySimulationTests.swift) over many seeds — 100,000 by
# default — split over parallel `swift test` processes, one per core. CI runs the first 500
# seeds of each on every push; this runs the seeds after them.
#
#   bash Scripts/simulation-soak.sh                 # 100,000 seeds from seed 500
#   bash Scripts/simulation-soak.sh 20000 1000000   # 20,000 seeds from seed 1,000,000
#   CONFIGURATION=release bash Scripts/simulation-soak.sh   # a release build (about 5x faster per seed)
#
# A failing seed prints the seed, its trace hash, the shrunk prefix and the one-line replay call;
# the logs are in .build/simulation-soak/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d /opt/swift/usr/bin ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
seeds=${1:-100000}
first=${2:-500}
configuration=${CONFIGURATION:-debug}
jobs=${JOBS:-$(nproc)}
out=.build/simulation-soak
mkdir -p "$out"
rm -f "$out"/*.log

swift build --build-tests -c "$configuration" 2>&1 | grep -E 'error|warning: ' | grep -v 'unhandled' || true
chunk=$(( (seeds + jobs - 1) / jobs ))
start=$(date +%s)
pids=()
for ((job = 0; job < jobs; job++)); do
  from=$((first + job * chunk))
  count=$(( job == jobs - 1 ? seeds - job * chunk : chunk ))
  [ "$count" -gt 0 ] || continue
  CHRONICLE_SIMULATION_FIRST_SEED=$from CHRONICLE_SIMULATION_SEEDS=$count \
    swift test --skip-build -c "$configuration" \
      --filter 'ProjectionEngineSimulationTests|ProcessManagerSimulationTests|OperatedProjectionSimulationTests|everySeedKeepsEveryInvariantOfTheRelay' >"$out/seeds-$from.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
grep -h '^simulation:' "$out"/*.log || true
if [ $status -ne 0 ]; then
  echo "simulation-soak: FAILED; the failing seed and its replay call:" >&2
  grep -h -A3 'Simulation failed' "$out"/*.log >&2 || true
fi
echo "simulation-soak: $seeds seeds from $first in $(( $(date +%s) - start )) s ($configuration build, $jobs processes)"
exit $status
