#!/usr/bin/env bash
# Builds every DocC catalog under Sources/ with warnings as errors, so an unresolved symbol link
# (``SomeType/someMethod(_:)`` that no longer exists), a bad Topics entry or a broken article link
# fails CI. Uses the toolchain's own `docc` and `swift-symbolgraph-extract`: no swift-docc-plugin
# in Package.swift, so nothing enters the dependency graph of Chronicle's users.
#
# Run it after `swift build` (or `swift build --build-tests`): it reads the modules of that debug
# build and compiles nothing, so it adds seconds to CI, not a second build. (`swift package
# dump-symbol-graph` would rebuild every target with other flags in the same build directory, and
# the next `swift build` would rebuild them all again.) Output goes to .build/docs-check/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d /opt/swift/usr/bin ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
for tool in docc swift-symbolgraph-extract; do
  command -v "$tool" >/dev/null || { echo "docs-check: $tool not found (it ships with the Swift toolchain)" >&2; exit 1; }
done

bin=$(swift build --show-bin-path)
[ -d "$bin/Modules" ] || { echo "docs-check: no debug build in $bin: run \`swift build\` first" >&2; exit 1; }
triple=$(basename "$(dirname "$bin")")
out=.build/docs-check
rm -rf "$out"
mkdir -p "$out"

# The C modules the Swift modules import (SwiftPM's generated module maps, and the packages' own).
clang=()
while IFS= read -r map; do clang+=(-Xcc "-fmodule-map-file=$map"); done < <(find "$bin" -maxdepth 2 -name module.modulemap)
while IFS= read -r map; do clang+=(-Xcc "-I$(dirname "$map")"); done < <(
  find .build/checkouts -name module.modulemap -not -path '*/Benchmarks/*' -not -path '*/SQLiteCustom/*' -not -path '*/Support/*' -not -path '*SQLCipher*')
# The package's own system library targets (CZlib, imported by ChronicleCommandLine).
while IFS= read -r map; do clang+=(-Xcc "-fmodule-map-file=$map"); done < <(find "$PWD/Sources" -name module.modulemap)

modules=()
for catalog in Sources/*/*.docc; do modules+=("$(basename "$catalog" .docc)"); done

failed=0
for module in "${modules[@]}"; do
  # Public symbols only (the documentation users read): the module's own graph and its
  # extensions of other modules (Module@Other.symbols.json).
  mkdir -p "$out/symbols/$module"
  if ! swift-symbolgraph-extract -module-name "$module" -I "$bin/Modules" "${clang[@]}" -target "$triple" \
      -minimum-access-level public -output-dir "$out/symbols/$module" >"$out/$module.extract.log" 2>&1; then
    echo "docs-check: cannot extract $module's symbols:" >&2; cat "$out/$module.extract.log" >&2
    failed=1
  fi
done
[ $failed = 0 ] || exit 1

# A catalog is built alone, so a link to another Chronicle module's symbol (``EventStoreError`` in
# ChronicleSQLite's docs) cannot resolve: DocC reports it as missing. Such a link is let through
# when its first component is another module's name or one of that module's top-level public
# symbols; every other diagnostic (a link to nothing, a bad Topics entry, an undocumented
# parameter among documented ones…) fails the check.
for module in "${modules[@]}"; do
  names="$out/$module.other-modules.txt"
  for other in "${modules[@]}"; do
    [ "$other" = "$module" ] && continue
    echo "$other"
    grep -ohE '"pathComponents":\["[^"]+"\]' "$out/symbols/$other/$other.symbols.json" | sed -E 's/.*\["([^"]+)"\]/\1/'
  done | sort -u >"$names"

  docc convert "Sources/$module/$module.docc" \
    --additional-symbol-graph-dir "$out/symbols/$module" \
    --fallback-display-name "$module" --fallback-bundle-identifier "org.chronicle.$module" \
    --output-dir "$out/$module.doccarchive" >"$out/$module.log" 2>&1 || true
  grep -E '^(warning|error): ' "$out/$module.log" | grep -v '^error: An error was encountered' >"$out/$module.diagnostics" || true
  real=0
  crossModule=0
  while IFS= read -r line; do
    # The unresolved name, and the first component of the path it was looked for under (a type of
    # another module extended here, such as GlobalPosition in ChronicleSQLite).
    name=$(sed -nE "s/^(warning|error): '([^']+)' (doesn't exist at|can't be linked to in a partial documentation build).*/\2/p" <<<"$line")
    under=$(sed -nE "s|^(warning\|error): '[^']+' doesn't exist at '/$module/([^/']+)'.*|\2|p" <<<"$line")
    if [ -n "$name" ] && { grep -qxF -- "$name" "$names" || { [ -n "$under" ] && grep -qxF -- "$under" "$names"; }; }; then
      crossModule=$((crossModule + 1))
    else
      echo "docs-check: $module: $line" >&2
      real=$((real + 1))
    fi
  done <"$out/$module.diagnostics"
  if [ $real -gt 0 ] || ! [ -d "$out/$module.doccarchive" ]; then
    echo "docs-check: $module: $real documentation warning(s); see $out/$module.log for where" >&2
    failed=1
  else
    echo "docs-check: $module ok ($crossModule link(s) to other Chronicle modules, not resolvable in a per-module build)"
  fi
done
exit $failed
