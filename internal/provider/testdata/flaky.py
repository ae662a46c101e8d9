#!/usr/bin/env python3
"""A model server that passes its health checks and its first --ok infer
requests, then answers every infer request with a 500: a version whose
replica starts fine and passes a one-request smoke test, and that only the
rollout's analysis of the traffic it then gets can tell is broken.

    command = ["python3", "/abs/flaky.py", "--port", "{port}", "--ok", "1"]
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ok", type=int, default=0, help="infer requests answered before the failures start")
    args = ap.parse_args()
    lock = threading.Lock()
    served = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.startswith("/v2/health"):
                return self.reply(200, {"ready": True})
            self.reply(200, {"name": "flaky", "platform": "python-flaky.py", "inputs": [], "outputs": []})

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                served[0] += 1
                n = served[0]
            if n > args.ok:
                return self.reply(500, {"error": "model crashed: out of memory"})
            total = sum(float(x) for t in json.loads(raw)["inputs"] for x in t["data"])
            self.reply(200, {"model_name": "flaky", "outputs": [{"name": "y", "datatype": "FP64", "shape": [1, 1], "data": [total]}]})

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
