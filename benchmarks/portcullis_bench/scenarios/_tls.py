"""TLS material and checks (tls_keepalive, tls_handshake): one ECDSA P-256 certificate for
127.0.0.1 made by certs/generate.sh in the run's temp dir, presented by all three proxies
(HAProxy reads certificate and key from one file, combined.pem); resumption set alike on all
three (TLS_RESUME)."""

import re

from ..procs import BenchError, log, run_quiet
from ..settings import ROOT
from . import _proxies


def material(run):
    """The render variables of the TLS configs; the certificate is made once per run."""
    if "tls" in run.material:
        return run.material["tls"]
    d = run.root / "tls"
    if not run.dry:
        rc, out = run_quiet([ROOT / "certs" / "generate.sh", d])
        if rc != 0:
            raise BenchError(f"certs/generate.sh {d} failed:\n{out}\ncould not make the TLS certificate")
        (d / "combined.pem").write_text((d / "server.crt").read_text() + (d / "server.key").read_text())
        log(f"TLS: ECDSA P-256 certificate in {d}; TLS_RESUME={run.s.tls_resume}")
    if run.s.tls_resume:   # tickets (2 per handshake, OpenSSL's default) and session caches on
        v = dict(BENCH_TLS_TICKETS="true", BENCH_NGINX_TICKETS="on", BENCH_NGINX_SESSION_CACHE="shared:bench:10m",
                 BENCH_NUM_TICKETS="2", BENCH_HAPROXY_TICKETS="", BENCH_HAPROXY_CACHESIZE="20000")
    else:                  # nothing resumable: every new connection is a full handshake
        v = dict(BENCH_TLS_TICKETS="false", BENCH_NGINX_TICKETS="off", BENCH_NGINX_SESSION_CACHE="off",
                 BENCH_NUM_TICKETS="0", BENCH_HAPROXY_TICKETS="no-tls-tickets", BENCH_HAPROXY_CACHESIZE="0")
    v["BENCH_TLS_DIR"] = d
    run.material["tls"] = v
    return v


def targets(run, p):
    """The three TLS-terminating proxies on the shared certificate."""
    v = material(run)
    p.check_args = ["--cacert", str(v["BENCH_TLS_DIR"] / "ca.crt")]
    p.smoke_proto = "https"
    p.check = tls_check
    conf = run.here / "conf"
    if run.want("portcullis"):
        _proxies.add(run, p, "portcullis", run.here / "portcullis-tls.yaml", "https", v)
    if run.want("nginx"):
        _proxies.add(run, p, "nginx", conf / "nginx-tls.conf", "https", v)
    if run.want("haproxy"):
        _proxies.add(run, p, "haproxy", conf / "haproxy-tls.cfg", "https", v)


def _field(pattern, text):
    m = re.search(pattern, text, re.M)
    return m.group(1) if m else ""


def tls_check(run, p):
    """On each target, what a handshake negotiates (TLS 1.3, an ECDSA signature, a certificate
    that verifies for 127.0.0.1), that TLS 1.2 is refused, and that resumption is what TLS_RESUME
    asks for (a second connection offering the first one's session). Result in JSON tls.negotiated."""
    d = material(run)["BENCH_TLS_DIR"]
    sess = d / "session.pem"
    negotiated = {}
    for t in p.targets:
        hp = t.url.split("://", 1)[1].split("/", 1)[0]
        req = f"GET {run.s.bench_path} HTTP/1.1\r\nHost: {hp}\r\nConnection: close\r\n\r\n"
        sess.unlink(missing_ok=True)
        rc, out = run_quiet(["timeout", "10", "openssl", "s_client", "-connect", hp, "-CAfile", d / "ca.crt",
                             "-verify_ip", "127.0.0.1", "-verify_return_error", "-ign_eof", "-sess_out", sess],
                            timeout=15, stdin=req)
        if rc != 0:
            raise BenchError(f"{t.name}: openssl s_client could not complete a verified TLS handshake:\n{out}")
        proto = _field(r"^(?:New|Reused), (TLS[^,]*), Cipher is ", out)
        cipher = _field(r"^(?:New|Reused), TLS[^,]*, Cipher is (.*)$", out)
        group = _field(r"^Server Temp Key: ([^,]*)", out)
        sig = _field(r"^Peer signature type: (.*)$", out)
        tickets = out.count("New Session Ticket arrived")
        if proto != "TLSv1.3" or sig != "ECDSA":
            raise BenchError(f"{t.name}: negotiated '{proto}' with a '{sig}' signature, expected TLSv1.3 and ECDSA\n{out}")
        resumed = False
        if sess.exists() and sess.stat().st_size > 0:
            _, again = run_quiet(["timeout", "10", "openssl", "s_client", "-connect", hp, "-CAfile", d / "ca.crt",
                                  "-ign_eof", "-sess_in", sess], timeout=15, stdin=req)
            resumed = re.search(r"^Reused, ", again, re.M) is not None
        rc12, _ = run_quiet(["timeout", "10", "openssl", "s_client", "-connect", hp, "-tls1_2"], timeout=15, stdin="")
        if rc12 == 0:
            raise BenchError(f"{t.name}: accepted a TLS 1.2 handshake (min_version 1.3 expected)")
        log(f"{t.name}: {proto} {cipher}, {group}, {sig} signature, certificate verified, TLS 1.2 refused; "
            f"{tickets} ticket(s), resumption: {'yes' if resumed else 'no'}")
        if resumed != bool(run.s.tls_resume):
            raise BenchError(f"{t.name}: resumption is '{'yes' if resumed else 'no'}' but TLS_RESUME={run.s.tls_resume}")
        negotiated[t.name] = {"protocol": proto, "cipher": cipher, "group": group, "signature": sig,
                              "tickets_sent": tickets, "resumed": resumed}
    p.extra["tls"] = {"resume": run.s.tls_resume, "negotiated": negotiated}
