#!/usr/bin/env python3
"""A tiny Open Inference Protocol v2 model server, standard library only.

The acceptance tests register it as a `process` runtime model version:

    command = ["python3", "/abs/serve.py", "--port", "{port}", "--model", "{model_path}"]

so Slipway starts one per replica, replacing {port} with the port to listen
on and {model_path} with the verified artifact. The artifact is a text file
of numbers, weights then bias ("10 20 30 40 0.25"); each input row x is
answered with x·weights + bias. The answer names this server and the SHA-256
of the file it loaded, so a test can prove both that this process answered
and that {model_path} pointed at the artifact it registered.
"""

import argparse
import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    numbers = [float(t) for t in raw.split()]
    if len(numbers) < 2:
        raise ValueError("the model file needs weights and a bias")
    return numbers[:-1], numbers[-1], hashlib.sha256(raw).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", required=True)
    args = ap.parse_args()
    weights, bias, digest = load(args.model)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass  # stderr is for errors: Slipway quotes its last line

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def model(self):
            # /v2/models/<name>[/ready|/infer]
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) >= 3 and parts[0] == "v2" and parts[1] == "models":
                return parts[2], "/".join(parts[3:])
            return None, None

        def do_GET(self):
            path = self.path.split("?")[0]
            if path in ("/v2/health/ready", "/v2/health/live"):
                return self.reply(200, {"ready": True})
            name, rest = self.model()
            if name and rest == "ready":
                return self.reply(200, {"ready": True})
            if name and rest == "":
                return self.reply(200, {
                    "name": name, "platform": "python-serve.py",
                    "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1, len(weights)]}],
                    "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1, 1]}],
                })
            self.reply(404, {"error": "no route " + path})

        def do_POST(self):
            name, rest = self.model()
            if not name or rest != "infer":
                return self.reply(404, {"error": "no route " + self.path})
            try:
                length = int(self.headers.get("Content-Length", "0"))
                req = json.loads(self.rfile.read(length) or b"{}")
                x = req["inputs"][0]
                data = [float(v) for v in x["data"]]
                width = len(weights)
                if len(data) % width:
                    raise ValueError("input has %d values, not a multiple of %d" % (len(data), width))
                rows = [data[i:i + width] for i in range(0, len(data), width)]
                y = [sum(a * w for a, w in zip(row, weights)) + bias for row in rows]
            except (KeyError, IndexError, TypeError, ValueError) as e:
                return self.reply(400, {"error": str(e)})
            self.reply(200, {
                "model_name": name,
                "id": req.get("id", ""),
                "parameters": {"served_by": "serve.py", "pid": os.getpid(), "model_sha256": digest},
                "outputs": [{"name": "y", "shape": [len(y), 1], "datatype": "FP64", "data": y}],
            })

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
