#!/usr/bin/env bash
# What site rules cost on requests they do not match: skiff with no rules
# against skiff with N rules of each kind (redirects, rewrites, header
# rules, address rules) and clean URLs on, none of which matches the
# benchmarked path, on the 380 B file. Rounds interleave the two.
#
# usage: benches/rules.sh ROOT [N]     (ROOT from makeroot.sh; N: 50)
# env: ROUNDS (3), SECS (5), PORT (28700), SKIFF (./target/release/skiff)
# prints one line per run: requests/s and server CPU microseconds per
# request; then the medians and their ratio.
set -u
ulimit -n 20000
ROOT=$(cd "${1:?root}" && pwd); N=${2:-50}
ROUNDS=${ROUNDS:-3}; SECS=${SECS:-5}; PORT=${PORT:-28700}
SKIFF=${SKIFF:-./target/release/skiff}
rules=()
for i in $(seq 1 "$N"); do
  rules+=(--redirect "/old$i/*=/new$i/\$1" --rewrite "/app$i/**=/dist$i/\$1"
          --header "/assets$i/**=Cache-Control: public, max-age=$i"
          --allow "10.$i.0.0/16")
done
rules+=(--allow 127.0.0.0/8 --clean-urls)
run() {
  local label=$1; shift
  taskset -c 0 "$SKIFF" --root "$ROOT" --port "$PORT" --bind 127.0.0.1 "$@" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/webserver.txt" && break; sleep 0.1; done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/webserver.txt")" = 200 ] || { echo "$label: not 200"; kill "$pid"; exit 1; }
  local t0; t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  local out; out=$(taskset -c 1 wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$PORT/webserver.txt")
  local t1; t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null
  local rps; rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  local reqs; reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  local us; us=$(awk -v t=$((t1 - t0)) -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  printf '%-8s %12s req/s %8s us/req\n' "$label" "$rps" "$us"
  echo "$label $rps $us" >> "$tmp"
}
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  run none
  run rules "${rules[@]}"
done
median() { grep "^$1 " "$tmp" | awk -v c="$2" '{print $c}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
n_rps=$(median none 2); r_rps=$(median rules 2); n_us=$(median none 3); r_us=$(median rules 3)
echo "median none:  $n_rps req/s, $n_us us/req"
echo "median rules: $r_rps req/s, $r_us us/req"
awk -v a="$r_rps" -v b="$n_rps" -v c="$r_us" -v d="$n_us" 'BEGIN {printf "rules/none: %.3f of the rate, %.3f of the CPU per request\n", a/b, c/d}'
