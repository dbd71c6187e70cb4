#!/usr/bin/env python3
"""Idle-connection memory over HTTP/2.

Opens N HTTP/2 connections to a server on loopback (h2c with prior
knowledge, or h2 over TLS with ALPN when TLS is given), makes one GET on
each, holds them all idle, and prints how much the server's RSS grew per
connection, and whether a fresh connection is still served.

usage: idle_h2.py PORT PID N [PATH] [TLS]

PID is the process whose VmRSS is read (the server, or nginx's worker).
Frames are built with hyperframe and headers with hpack (Python's h2
libraries). The server's idle timeout must be longer than it takes to
open N connections (skiff: --keep-alive-timeout 600).
"""
import resource
import socket
import ssl
import sys
import time

from hpack import Encoder
from hyperframe.frame import Frame, HeadersFrame, SettingsFrame

port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
path = sys.argv[4] if len(sys.argv) > 4 else "/webserver.txt"
tls = len(sys.argv) > 5 and sys.argv[5] == "TLS"
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"])


def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])


def one():
    s = socket.create_connection(("127.0.0.1", port))
    if tls:
        s = ctx.wrap_socket(s, server_hostname="localhost")
        assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
    s.settimeout(10)
    block = Encoder().encode(
        [(":method", "GET"), (":scheme", "https" if tls else "http"), (":authority", "localhost"), (":path", path)]
    )
    get = HeadersFrame(1, block)
    get.flags.add("END_HEADERS")
    get.flags.add("END_STREAM")
    s.sendall(PREFACE + SettingsFrame(0).serialize() + get.serialize())
    buf, ok, acked = b"", False, False
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return s, False
        buf += chunk
        while len(buf) >= 9:
            f, length = Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            f.parse_body(memoryview(buf[9 : 9 + length]))
            buf = buf[9 + length :]
            if isinstance(f, SettingsFrame) and "ACK" not in f.flags and not acked:
                s.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
                acked = True
            if isinstance(f, HeadersFrame):
                ok = True
            if f.stream_id == 1 and "END_STREAM" in f.flags:
                return s, ok


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
