#!/usr/bin/env python3
"""Idle-connection memory over HTTPS.

Opens N TLS connections to a server on loopback, makes one GET on each
(keep-alive), holds them all idle, and prints how much the server's RSS
grew per connection, and whether a fresh connection is still served.

usage: idle_tls.py PORT PID N [PATH] [CIPHER]

CIPHER (optional) limits the client to TLS 1.2 with that OpenSSL cipher
name (ECDHE-RSA-CHACHA20-POLY1305, ECDHE-RSA-AES128-GCM-SHA256, ...), to
see what each cipher's keys cost.

PID is the process whose VmRSS is read (the server, or nginx's worker).
Certificates are not verified: this measures memory, not trust. The
connections are made one at a time, so it takes a while at 10,000.
"""
import resource
import socket
import ssl
import sys
import time

port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
path = sys.argv[4] if len(sys.argv) > 4 else "/webserver.txt"
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))


def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])


ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
if len(sys.argv) > 5:
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(sys.argv[5])
req = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


i_first = [True]


def one():
    raw = socket.create_connection(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.settimeout(10)
    if i_first[0]:
        i_first[0] = False
        print(f"{s.version()} {s.cipher()[0]}", file=sys.stderr)
    s.sendall(req)
    got = s.recv(65536)
    return s, got.startswith(b"HTTP/1.1 200")


before = rss()
socks, ok = [], 0
start = time.time()
for i in range(n):
    s, good = one()
    socks.append(s)
    ok += good
time.sleep(1.0)
after = rss()
t = time.time()
fresh, good = one()
print(
    f"conns={n} ok={ok} rss_before_kB={before} rss_after_kB={after} "
    f"per_conn_B={(after - before) * 1024 // max(n, 1)} fresh_ok={good} "
    f"opened_in={t - start:.1f}s fresh_ms={1000 * (time.time() - t):.1f}"
)
