#!/usr/bin/env python3
"""A minimal Open Inference Protocol v2 model server for slipway's process
runtime tests. Standard library only. It answers the sum of every input's
data as one FP64 output named "sum"."""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    model_path = ""

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path in ("/v2/health/ready", "/v2/health/live"):
            self.reply(200, {"ready": True})
        elif self.path.startswith("/v2/models/"):
            name = self.path[len("/v2/models/"):].split("/")[0]
            self.reply(200, {"name": name, "platform": "python", "inputs": [], "outputs": [{"name": "sum", "datatype": "FP64", "shape": [1]}]})
        else:
            self.reply(404, {"error": "no such route " + self.path})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        parts = self.path.split("/")
        # /v2/models/<name>/infer
        if len(parts) != 5 or parts[1:3] != ["v2", "models"] or parts[4] != "infer":
            self.reply(404, {"error": "no such route " + self.path})
            return
        try:
            req = json.loads(raw)
            total = 0.0
            for t in req["inputs"]:
                total += sum(float(x) for x in t["data"])
        except Exception as e:  # a bad request, not a crash
            self.reply(400, {"error": "bad infer request: %s" % e})
            return
        self.reply(200, {
            "model_name": parts[3],
            "id": req.get("id", ""),
            "parameters": {"model": self.model_path},
            "outputs": [{"name": "sum", "datatype": "FP64", "shape": [1], "data": [total]}],
        })


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", required=True)
    args = ap.parse_args()
    Handler.model_path = args.model
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print("serving on port %d" % args.port, file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
