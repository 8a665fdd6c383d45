#!/usr/bin/env python3
"""The quickstart's demo webhook receiver: prints every Sonde notification
(one line per POST: event, incident id, summary) and checks its HMAC
signature. Usage: webhook-receiver.py PORT SECRET (listens on 127.0.0.1)."""
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, SECRET = int(sys.argv[1]), sys.argv[2].encode()


def signature_valid(header: str, body: bytes, tolerance=300) -> bool:
    """X-Sonde-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">
    (docs/notifications.md); an old t is refused as a replay."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, sig = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or abs(time.time() - int(t)) > tolerance:
        return False
    want = hmac.new(SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, sig)


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        signed = signature_valid(self.headers.get("X-Sonde-Signature", ""), body)
        doc = json.loads(body)
        incident = doc.get("incident", {}).get("id", "-")
        print(f"{doc['created_at']} {doc['event']:<15} {incident}  {doc.get('summary', '')}"
              f"{'' if signed else '  [BAD SIGNATURE]'}", flush=True)
        self.send_response(200 if signed else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Hook).serve_forever()
