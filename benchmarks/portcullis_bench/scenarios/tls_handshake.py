"""tls_handshake: the same TLS proxies, a new connection per request (the client asks
"Connection: close"; the proxies keep their upstream connections): req/s = handshakes/s."""

from ..plan import Plan
from . import _tls

NAME = "tls_handshake"


def plan(run):
    kind = ("resumed handshakes (TLS 1.3 tickets, PSK + X25519)" if run.s.tls_resume
            else "full handshakes (no resumption)")
    p = Plan(NAME, f"TLS 1.3 {kind}, a new connection per request, GET {run.s.bench_path}")
    _tls.targets(run, p)
    p.wrk_extra = ["-H", "Connection: close"]
    p.load_desc = '-H "Connection: close"'
    p.note = (f"(one request per TLS connection: req/s = {kind} per second; p50/p99 exclude the handshake, "
              "wrk starts its clock once connected)")
    return p
