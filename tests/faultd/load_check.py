#!/usr/bin/env python3
"""Manual load check for sonde-faultd (not a test): N new-connection HTTP
requests against a faultd HTTP listener on loopback, from a few threads;
prints requests per second and any failures.

  load_check.py --port 8080 [--requests 5000] [--threads 4] [--host 127.0.0.1]

Each request opens a new TCP connection, sends GET / with Connection: close,
reads the response to EOF and checks the status line. Bounded: exactly
--requests requests, each socket with a 5 s timeout. Loopback only.
"""
import argparse
import ipaddress
import socket
import sys
import threading
import time


def worker(host, port, count, results, index):
    ok = failed = 0
    request = b"GET / HTTP/1.1\r\nHost: faultd\r\nConnection: close\r\n\r\n"
    for _ in range(count):
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(request)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            if data.startswith(b"HTTP/1.1 "):
                ok += 1
            else:
                failed += 1
        except OSError:
            failed += 1
    results[index] = (ok, failed)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--threads", type=int, default=4)
    a = p.parse_args()
    if not ipaddress.ip_address(a.host).is_loopback:
        sys.exit("load_check: loopback targets only")
    if not 1 <= a.requests <= 1_000_000 or not 1 <= a.threads <= 64:
        sys.exit("load_check: --requests 1..1000000, --threads 1..64")
    per = [a.requests // a.threads + (1 if i < a.requests % a.threads else 0)
           for i in range(a.threads)]
    results = [(0, 0)] * a.threads
    threads = [threading.Thread(target=worker, args=(a.host, a.port, n, results, i))
               for i, n in enumerate(per)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    print(f"{ok} ok, {failed} failed in {elapsed:.2f} s: {ok / elapsed:.0f} new connections/s")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
