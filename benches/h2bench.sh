#!/usr/bin/env bash
# HTTP/2 side by side: skiff, nginx and h2o (Debian's nginx-light and h2o),
# each with one worker, no access log and sendfile, pinned to CPU 0;
# h2load (Debian's nghttp2-client) pinned to CPU 1.
#
# usage: benches/h2bench.sh ROOT "FILE ..." "C:M ..." [server ...]
#   ROOT      a folder with the files to fetch
#   FILE      names under ROOT
#   C:M       h2load's connections and streams per connection (64:1, 8:100, 1000:1)
#   server    skiff (./target/release/skiff, or SKIFF=...), nginx, h2o
# env: TLS=1 (h2 over TLS with a fresh self-signed certificate; else h2c with
#      prior knowledge), SECS (5), PORT (28600), ROUNDS (1: servers interleaved
#      in each round)
# prints one line per round, server, file and load: requests/s, bytes/s, and
# the server's CPU time per request in microseconds.
set -u
ulimit -n 20000
ROOT=$(cd "${1:?root}" && pwd); FILES=${2:?files}; LOADS=${3:?loads}; shift 3
SERVERS=${*:-skiff nginx h2o}
SECS=${SECS:-5}; PORT=${PORT:-28600}; ROUNDS=${ROUNDS:-1}
SKIFF=${SKIFF:-./target/release/skiff}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scheme=http
if [ -n "${TLS:-}" ]; then
  scheme=https
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
fi

start() {
  case $1 in
    skiff)
      tls=(); [ -n "${TLS:-}" ] && tls=(--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem")
      taskset -c 0 "$SKIFF" --root "$ROOT" --port "$PORT" --bind 127.0.0.1 \
        --keep-alive-timeout 600 "${tls[@]}" >/dev/null 2>&1 & ;;
    nginx)
      ssl=""; [ -n "${TLS:-}" ] && ssl="ssl; ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem"
      cat > "$tmp/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1; worker_rlimit_nofile 20000;
error_log $tmp/nginx.err; pid $tmp/nginx.pid;
events { worker_connections 20000; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_timeout 600;
  keepalive_requests 1000000;
  include /etc/nginx/mime.types;
  server { listen 127.0.0.1:$PORT http2 $ssl; root $ROOT; } }
EOF
      taskset -c 0 nginx -c "$tmp/nginx.conf" -p "$tmp" & ;;
    h2o)
      {
        echo "num-threads: 1"
        echo "max-connections: 20000"
        echo "http2-idle-timeout: 600"
        echo "listen:"
        echo "  host: 127.0.0.1"
        echo "  port: $PORT"
        if [ -n "${TLS:-}" ]; then
          echo "  ssl:"
          echo "    certificate-file: $tmp/cert.pem"
          echo "    key-file: $tmp/key.pem"
        fi
        echo "hosts:"
        echo "  default:"
        echo "    paths:"
        echo "      /:"
        echo "        file.dir: $ROOT"
      } > "$tmp/h2o.conf"
      taskset -c 0 h2o -c "$tmp/h2o.conf" >/dev/null 2>&1 & ;;
    *) echo "unknown server $1" >&2; return 1 ;;
  esac
  pid=$!
  local first=${FILES%% *}
  for _ in $(seq 50); do
    h2load -n 1 -c 1 "$scheme://127.0.0.1:$PORT/$first" 2>/dev/null | grep -q '1 succeeded' && return 0
    sleep 0.1
  done
  echo "start failed: $1" >&2; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; return 1
}

# The server's CPU time (user + system ticks) over all its processes.
cpu() {
  local t=0 p
  for p in $pid $(pgrep -P "$pid"); do
    t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0)))
  done
  echo $t
}

printf "%-5s %-6s %-14s %-8s %12s %12s %10s\n" round server file load req/s bytes/s cpu-us/req
for round in $(seq "$ROUNDS"); do
  for s in $SERVERS; do
    start "$s" || continue
    for f in $FILES; do
      for load in $LOADS; do
        c=${load%%:*}; m=${load##*:}
        c0=$(cpu)
        out=$(taskset -c 1 h2load -t1 -c"$c" -m"$m" -D "$SECS" --warm-up-time=1 "$scheme://127.0.0.1:$PORT/$f" 2>&1)
        c1=$(cpu)
        rps=$(awk '/^finished in/{print $4}' <<<"$out")
        bps=$(awk '/^finished in/{print $6}' <<<"$out")
        done_=$(awk '/^requests:/{print $8}' <<<"$out")
        failed=$(awk '/^requests:/{print $10}' <<<"$out")
        # h2load counts what it did after its one-second warm-up; the CPU
        # time covers both, so it is scaled to the measured seconds.
        us=$(awk -v a="$c0" -v b="$c1" -v n="${done_:-0}" -v hz="$(getconf CLK_TCK)" -v s="$SECS" \
          'BEGIN { if (n > 0) printf "%.2f", (b - a) / hz * 1e6 / n * s / (s + 1); else print "-" }')
        note=""; [ "${failed:-0}" != 0 ] && note="failed: $failed"
        printf "%-5s %-6s %-14s %-8s %12s %12s %10s %s\n" "$round" "$s" "$f" "$c:$m" "$rps" "$bps" "$us" "$note"
      done
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    sleep 0.5
  done
done
