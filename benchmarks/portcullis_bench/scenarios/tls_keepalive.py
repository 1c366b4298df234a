"""tls_keepalive (alias tls): TLS 1.3 termination (ECDSA P-256, X25519), wrk keeps its
connections: the cost of record encryption and decryption on top of plain."""

from ..plan import Plan
from . import _tls

NAME = "tls_keepalive"


def plan(run):
    p = Plan(NAME, f"TLS 1.3 (ECDSA P-256, X25519) termination, keep-alive both sides, GET {run.s.bench_path}")
    _tls.targets(run, p)
    return p
