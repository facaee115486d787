#!/usr/bin/env bash
# Checks that a library user's build stays lean: a package that depends on this one (by path) and
# uses only the `Chronicle` and `ChronicleSQLite` products must compile no HTTP, NIO, PostgreSQL or
# HTTP-client module. Measured once: such a program builds fresh in about two minutes; the HTTP and
# PostgreSQL stacks (SwiftNIO, Hummingbird, PostgresNIO, AsyncHTTPClient) would add several.
#
# Compiles nothing: SwiftPM plans the consumer's build (`swift build --print-manifest-job-graph`
# writes the llbuild command graph and stops), and the modules its executable needs are read off
# that graph by walking back from the executable through every command's inputs. The graph holds
# commands for every target of every package SwiftPM fetched (it fetches all of them; see
# Docs/Architecture.md, "The package graph"), so only what the executable reaches counts.
#
# The consumer lives in .build/lean-graph-check/ (kept between runs, so a rerun resolves nothing),
# pinned to the root's Package.resolved when there is one. About a minute, mostly manifest loading.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d /opt/swift/usr/bin ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
root=$(pwd)
work="$root/.build/lean-graph-check"
consumer="$work/Consumer"
mkdir -p "$consumer/Sources/Consumer"

# The two-line program of a library user on the embedded store.
cat >"$consumer/Package.swift" <<EOF
// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Consumer",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Chronicle", path: "$root")],
    targets: [
        .executableTarget(
            name: "Consumer",
            dependencies: [
                .product(name: "Chronicle", package: "Chronicle"),
                .product(name: "ChronicleSQLite", package: "Chronicle"),
            ]
        ),
    ]
)
EOF
cat >"$consumer/Sources/Consumer/main.swift" <<'EOF'
import Chronicle
import ChronicleSQLite

print(StreamID.self, SQLiteEventStore.self)
EOF
# The root's pins, so the consumer plans against the versions the root builds with.
[ -f Package.resolved ] && cp Package.resolved "$consumer/Package.resolved"

graph="$work/jobs.dot"
if ! (cd "$consumer" && swift build --print-manifest-job-graph >"$graph" 2>"$work/plan.log"); then
  echo "lean-graph-check: could not plan the consumer's build:" >&2
  cat "$work/plan.log" >&2
  exit 1
fi

# Walk back from the consumer's executable through the commands' inputs; list the Swift modules met.
modules=$(python3 - "$graph" <<'EOF'
import re, sys
edge = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"')
inputs = {}
for line in open(sys.argv[1]):
    m = edge.match(line)
    if m:
        inputs.setdefault(m.group(2), []).append(m.group(1))
start = [n for n in inputs if re.fullmatch(r'<Consumer-.*\.exe>', n)]
if len(start) != 1:
    sys.exit(f"expected one <Consumer-….exe> node in the job graph, found {start}")
seen, todo = set(start), list(start)
while todo:
    for p in inputs.get(todo.pop(), []):
        if p not in seen:
            seen.add(p)
            todo.append(p)
names = {m.group(1) for n in seen for m in [re.search(r'/Modules/([A-Za-z0-9_]+)\.swiftmodule$', n)] if m}
print("\n".join(sorted(names)))
EOF
)

echo "lean-graph-check: a Chronicle + ChronicleSQLite user compiles $(wc -l <<<"$modules") modules: $(tr '\n' ' ' <<<"$modules")"
status=0
for required in Chronicle ChronicleJSON ChronicleSQLite Consumer; do
  grep -qx "$required" <<<"$modules" || { echo "lean-graph-check: $required is missing from the plan (is the check still reading the graph right?)" >&2; status=1; }
done
# The stacks a library user on SQLite must not compile.
forbidden=$(grep -E '^(NIO.*|_NIO.*|CNIO.*|Hummingbird.*|HTTPTypes.*|PostgresNIO|_ConnectionPoolModule|AsyncHTTPClient|Crypto.*|X509|ArgumentParser|ChronicleHTTP|ChroniclePostgres|ChronicleCommandLine|Shop|ChronicleBenchmarks)$' <<<"$modules" || true)
if [ -n "$forbidden" ]; then
  echo "lean-graph-check: a Chronicle + ChronicleSQLite user would compile: $(tr '\n' ' ' <<<"$forbidden")" >&2
  echo "lean-graph-check: keep the HTTP, PostgreSQL and command-line dependencies out of Chronicle's and ChronicleSQLite's targets" >&2
  status=1
fi
[ $status = 0 ] && echo "lean-graph-check: ok (no HTTP, NIO, PostgreSQL or HTTP-client module)"
exit $status
