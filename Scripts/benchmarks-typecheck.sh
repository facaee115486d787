#!/usr/bin/env bash
# Type-checks the benchmark (Benchmarks/, a package of its own that depends on this one by path)
# against the modules of the root's debug build, so CI notices when a change to Chronicle's public
# API breaks it, without resolving and building the benchmark package (its release build is
# Benchmarks/run.sh's job). Like that package, it sees Chronicle's public API only (no
# -package-name). Run it after `swift build`; about ten seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d /opt/swift/usr/bin ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
bin=$(swift build --show-bin-path)
[ -d "$bin/Modules" ] || { echo "benchmarks-typecheck: no debug build in $bin: run \`swift build\` first" >&2; exit 1; }
# The C modules the Swift modules import (as in Scripts/docs-check.sh).
clang=()
while IFS= read -r map; do clang+=(-Xcc "-fmodule-map-file=$map"); done < <(find "$bin" -maxdepth 2 -name module.modulemap)
while IFS= read -r map; do clang+=(-Xcc "-I$(dirname "$map")"); done < <(
  find .build/checkouts -name module.modulemap -not -path '*/Benchmarks/*' -not -path '*/SQLiteCustom/*' -not -path '*/Support/*' -not -path '*SQLCipher*')
if swiftc -typecheck -swift-version 6 -enable-upcoming-feature ExistentialAny -warnings-as-errors -parse-as-library \
    -module-name ChronicleBenchmarks -I "$bin/Modules" "${clang[@]}" Benchmarks/Swift/*.swift; then
  echo "benchmarks-typecheck: ok"
else
  echo "benchmarks-typecheck: Benchmarks/Swift does not compile against the current API" >&2
  exit 1
fi
