#!/usr/bin/env bash
# Sharing a folder, measured: a 1 GiB folder of mixed files downloaded as
# .tar and as .tar.gz beside the same bytes as one plain file (sendfile),
# the tar again over HTTP/1.0 (no chunked framing for curl to decode), a
# 1 GiB upload, each with the server's peak resident memory; then the
# 380 B file with --archives --upload on against off (wrk).
#
# usage: benches/share.sh ROOT      (ROOT from makeroot.sh, for the 380 B file)
# env: ROUNDS (3), SECS (5), PORT (28800), SKIFF (./target/release/skiff),
#      WORK (a folder for the 1 GiB files; default a new one under /tmp)
# The server runs on CPU 0, curl and wrk on CPU 1; a fresh server for each
# transfer, so its peak RSS (VmHWM) is that transfer's.
set -u
ulimit -n 20000
ROOT=$(cd "${1:?root}" && pwd)
ROUNDS=${ROUNDS:-3}; SECS=${SECS:-5}; PORT=${PORT:-28800}
SKIFF=${SKIFF:-./target/release/skiff}
WORK=${WORK:-$(mktemp -d /tmp/skiff-share-bench.XXXXXX)}
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT

# The folder: 20 x 32 MiB and 256 x 1 MiB of random bytes, 1600 x 64 KiB
# of text, 6000 x 4 KiB of text in 60 subfolders: 1,020 MiB in all. And the
# same amount as one file.
if [ ! -f "$WORK/made" ]; then
  mkdir -p "$WORK/site/folder/big" "$WORK/site/folder/mid" "$WORK/site/up"
  for i in $(seq 1 20); do head -c $((32 << 20)) /dev/urandom > "$WORK/site/folder/big/b$i.bin"; done
  for i in $(seq 1 256); do head -c $((1 << 20)) /dev/urandom > "$WORK/site/folder/mid/m$i.bin"; done
  python3 - "$WORK/site/folder" <<'PY'
import os, random, sys
root = sys.argv[1]
words = "the quick brown fox jumps over a lazy dog while skiff serves a folder to the next desk".split()
rng = random.Random(7)
def text(n):
    out = []
    size = 0
    while size < n:
        w = rng.choice(words)
        out.append(w)
        size += len(w) + 1
    return (" ".join(out))[:n].encode()
os.makedirs(f"{root}/text", exist_ok=True)
for i in range(1600):
    open(f"{root}/text/t{i}.txt", "wb").write(text(64 << 10))
for d in range(60):
    os.makedirs(f"{root}/small/d{d}", exist_ok=True)
    for i in range(100):
        open(f"{root}/small/d{d}/s{i}.txt", "wb").write(text(4 << 10))
PY
  head -c $((1020 << 20)) /dev/urandom > "$WORK/site/one.bin"
  touch "$WORK/made"
fi
bytes=$(du -sb "$WORK/site/folder" | cut -f1)
echo "folder: $bytes bytes in $(find "$WORK/site/folder" -type f | wc -l) files"

start() {
  taskset -c 0 "$SKIFF" --root "$WORK/site" --port "$PORT" --bind 127.0.0.1 \
    --archives --archive-max-files 20000 --upload --upload-dir up --upload-max-bytes 2G "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/up/" && break; sleep 0.1; done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }

transfer() {
  local label=$1 url=$2; shift 2
  start
  local base; base=$(hwm)
  local out; out=$(taskset -c 1 curl -s -o /dev/null -w '%{speed_download} %{speed_upload} %{size_download} %{http_code}' "$@" "$url")
  local peak; peak=$(hwm)
  stop
  rm -f "$WORK/site/up/"*
  local down up size code
  read -r down up size code <<< "$out"
  local rate; rate=$(awk -v d="$down" -v u="$up" 'BEGIN {r = d > u ? d : u; printf "%.0f", r / 1048576}')
  printf '%-8s %5s MiB/s  %11s bytes  peak RSS %6s KiB (at start %s KiB)  HTTP %s\n' "$label" "$rate" "$size" "$peak" "$base" "$code"
  echo "$label $rate $peak" >> "$tmp"
}

for r in $(seq 1 "$ROUNDS"); do
  transfer plain  "http://127.0.0.1:$PORT/one.bin"
  transfer tar    "http://127.0.0.1:$PORT/folder/?download=tar"
  transfer tar10  "http://127.0.0.1:$PORT/folder/?download=tar" -0
  transfer tar.gz "http://127.0.0.1:$PORT/folder/?download=tar.gz"
  transfer upload "http://127.0.0.1:$PORT/up/one.bin" -T "$WORK/site/one.bin"
done

# The 380 B file with the sharing flags on and off.
wrk_run() {
  local label=$1; shift
  taskset -c 0 "$SKIFF" --root "$ROOT" --port "$PORT" --bind 127.0.0.1 --list-dirs "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/webserver.txt" && break; sleep 0.1; done
  local out; out=$(taskset -c 1 wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$PORT/webserver.txt")
  stop
  local rps; rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  printf '%-8s %12s req/s\n' "$label" "$rps"
  echo "$label $rps 0" >> "$tmp"
}
for r in $(seq 1 "$ROUNDS"); do
  wrk_run off
  wrk_run on --archives --upload
done

median() { grep "^$1 " "$tmp" | awk -v c="$2" '{print $c}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for l in plain tar tar10 tar.gz upload; do
  echo "median $l: $(median "$l" 2) MiB/s, peak RSS $(median "$l" 3) KiB"
done
awk -v a="$(median tar 2)" -v b="$(median plain 2)" 'BEGIN {printf "tar/plain: %.2f of the rate\n", a/b}'
awk -v a="$(median tar10 2)" -v b="$(median plain 2)" 'BEGIN {printf "tar over HTTP/1.0 (no chunks for curl to undo)/plain: %.2f of the rate\n", a/b}'
awk -v a="$(median on 2)" -v b="$(median off 2)" 'BEGIN {printf "380 B with --archives --upload / without: %.3f\n", a/b}'
echo "(the 1 GiB files are in $WORK; remove it when done)"
