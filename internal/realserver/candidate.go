package realserver

// CandidatePy is an Open Inference Protocol v2 model server in Python for
// rollout tests, run by the process runtime: it answers the sum of its
// inputs plus --bias after --delay-ms, and a 500 instead with --fail, once
// it has answered --fail-after requests, or once the --fail-when file
// exists. Health stays 200, so only a smoke test or the analysis of live
// traffic can tell it is bad.
const CandidatePy = `
import argparse, json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.startswith("/v2/health"):
            self.reply(200, {"ready": True})
        else:
            self.reply(200, {"name": "candidate", "platform": "python", "inputs": [], "outputs": []})
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if ARGS.delay_ms:
            time.sleep(ARGS.delay_ms / 1000.0)
        global SERVED
        SERVED += 1
        if ARGS.fail or (ARGS.fail_after and SERVED > ARGS.fail_after) or (ARGS.fail_when and os.path.exists(ARGS.fail_when)):
            self.reply(500, {"error": "candidate is broken"})
            return
        req = json.loads(raw)
        total = sum(float(x) for t in req["inputs"] for x in t["data"]) + ARGS.bias
        self.reply(200, {"model_name": "candidate", "outputs": [{"name": "y", "datatype": "FP64", "shape": [1], "data": [total]}]})

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--bias", type=float, default=0)
ap.add_argument("--delay-ms", type=int, default=0)
ap.add_argument("--fail", action="store_true")
ap.add_argument("--fail-after", type=int, default=0)
ap.add_argument("--fail-when", default="")
ARGS = ap.parse_args()
SERVED = 0
srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), H)
srv.daemon_threads = True
srv.serve_forever()
`
