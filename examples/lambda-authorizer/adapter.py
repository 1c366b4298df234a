#!/usr/bin/env python3
"""Serves an existing Python Lambda authorizer, `handler(event, context)`, over HTTP for Portcullis.

Portcullis POSTs API Gateway's authorizer event (TOKEN or REQUEST) as JSON; this adapter calls the
handler unchanged and maps what it does to the answer Portcullis expects (docs/ARCHITECTURE.md,
"External authorizers"):

  returns a dict                      -> 200 with the dict as JSON (policy or simple form)
  raises Exception("Unauthorized")    -> 401 (the client gets 401 Unauthorized)
  raises anything else                -> 500 {"errorMessage", "errorType"} (the client gets 500)

Usage:
  python3 adapter.py --handler workshop_authorizer:handler --listen 127.0.0.1:9100

Standard library only; one thread per request (ThreadingHTTPServer), as each Lambda invocation has
its own. The handler module is imported once, like a warm Lambda container.
"""
import argparse
import importlib
import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_EVENT_BYTES = 1 << 20


class LambdaContext:
    """The parts of Lambda's context object that authorizers use."""

    def __init__(self, function_name, timeout_ms):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 128
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def make_handler_class(handler, name, timeout_ms):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: Portcullis pools its connections

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_EVENT_BYTES:
                return self.answer(400, {"errorMessage": "expected a JSON event", "errorType": "BadRequest"})
            try:
                event = json.loads(self.rfile.read(length))
            except ValueError as e:
                return self.answer(400, {"errorMessage": f"event is not JSON: {e}", "errorType": "BadRequest"})
            try:
                result = handler(event, LambdaContext(name, timeout_ms))
            except Exception as e:  # the Lambda runtime's contract: the message decides
                if str(e) == "Unauthorized":
                    return self.answer(401, {"message": "Unauthorized"})
                return self.answer(500, {"errorMessage": str(e), "errorType": type(e).__name__})
            self.answer(200, result)

        def answer(self, status, body):
            data = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):  # one line per call on stderr
            sys.stderr.write("adapter: %s %s\n" % (self.address_string(), fmt % args))

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--handler", required=True, help="module:function, like workshop_authorizer:handler")
    p.add_argument("--listen", default="127.0.0.1:9100", help="host:port (default 127.0.0.1:9100)")
    p.add_argument("--timeout-ms", type=int, default=3000, help="what get_remaining_time_in_millis counts from")
    args = p.parse_args()
    module_name, _, function_name = args.handler.partition(":")
    # Handlers are found in the working folder or beside this file.
    sys.path[:0] = [os.getcwd(), os.path.dirname(os.path.abspath(__file__))]
    handler = getattr(importlib.import_module(module_name), function_name or "handler")
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), make_handler_class(handler, module_name, args.timeout_ms))
    server.daemon_threads = True
    print(f"adapter: serving {args.handler} on http://{host}:{server.server_port}/authorize", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
