#!/usr/bin/env bash
# Writes deploy/startup.order: the functions a static skiff runs from exec
# to its first `Listening on` line, for the linker's --symbol-ordering-file.
#
# The image's build links those functions next to each other, so the pages
# of code the kernel maps at start are few (RSS at start: 3.2 MB -> 1.8 MB,
# see docs/benchmarks.md). Symbol names carry hashes that change with the
# code; a stale list only orders fewer functions (the linker is told not to
# warn), so run this again after large changes:
#
#   deploy/startup-order.sh          # needs valgrind (Debian: valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(uname -m)-unknown-linux-gnu"
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --bin skiff --target "$target"
bin="target/$target/release/skiff"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/www"
echo '<p>order</p>' > "$tmp/www/index.html"
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$tmp/cg.out" \
  "$bin" --root "$tmp/www" --port 0 --bind 127.0.0.1 > "$tmp/out" 2>/dev/null &
pid=$!
for _ in $(seq 300); do
  grep -q '^Listening on' "$tmp/out" 2>/dev/null && break
  sleep 0.1
done
grep -q '^Listening on' "$tmp/out" || { echo "skiff did not start under valgrind" >&2; kill "$pid"; exit 1; }
kill -INT "$pid"
wait "$pid" || true
# Every function callgrind saw, by its linker name, that the binary defines.
grep -oE '^c?fn=\([0-9]+\) .*' "$tmp/cg.out" | sed -E 's/^c?fn=\([0-9]+\) //' | sort -u > "$tmp/ran"
nm "$bin" | awk '$2 ~ /^[tTiWw]$/ {print $3}' | sort -u > "$tmp/defined"
comm -12 "$tmp/ran" "$tmp/defined" > deploy/startup.order
echo "deploy/startup.order: $(wc -l < deploy/startup.order) functions"
