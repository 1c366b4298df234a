"""Portcullis against Portcullis (sigv4, sigv4_unique, resource_policy): one process, a guarded
route and a plain route of one config, each a target of its own, measured alternately; the CPU
of the one process is counted for whichever route is under load. The plain route is the
reference of the table, the guarded ones its subjects. nginx and HAProxy have neither SigV4 nor
IAM policies: they are not in these scenarios."""

import time

from ..measure import NCPU
from ..plan import Server
from ..procs import BenchError, log, run_quiet

KEY = "AKIAPORTCULLISBENCH1"
SECRET = "bench-secret-0123456789abcdefghijklmnop"   # as in portcullis-sigv4.yaml
REGION = "eu-west-1"


def server(run, p, template, ready_path, variables=None):
    """The Portcullis process the routes share; False (and the plan skipped) without portcullis."""
    if not run.want("portcullis"):
        p.skip = "Portcullis against Portcullis: TARGETS has no portcullis"
        return None
    if run.s.upstream != "stub":
        log(f"{p.name}: UPSTREAM={run.s.upstream}; UPSTREAM=stub keeps the upstream's cost small beside the proxy's")
    port = run.port("PORT_PORTCULLIS")
    base = f"http://127.0.0.1:{port}"
    p.servers.append(Server("portcullis", "portcullis", template, port, base + ready_path, vars=dict(variables or {})))
    p.compare_to = ["plain-route"]
    return base


def sign(run, secret, expires, url):
    rc, out = run_quiet([run.bin, "sign", "--access-key", KEY, "--secret", secret, "--region", REGION,
                         "--presign", "--expires", expires, url])
    if rc != 0:
        raise BenchError(f"portcullis sign failed (does {run.bin} have the sign command?):\n{out}")
    return out.strip()


def lifetime_check(run):
    """The URLs must outlive the scenario: worst case every round waits QUIET_WAIT and is re-run."""
    s = run.s
    worst = int(2 * (s.warmup + s.pause) + s.rounds * 2 * (1 + s.busy_retries) *
                (s.duration + s.pause + s.quiet_wait + 2) + 60)
    if worst >= s.sigv4_expires:
        raise BenchError(f"sigv4: the scenario may last up to {worst}s, longer than the presigned URLs "
                         f"(SIGV4_EXPIRES={s.sigv4_expires}); raise SIGV4_EXPIRES (at most 604800)")


def _pool_checked(run, f, want, pattern, t0, label):
    import re
    lines = [l for l in f.read_text().splitlines() if l]
    n = sum(1 for l in lines if re.match(pattern, l))
    if n != want or len(set(lines)) != len(lines):
        raise BenchError(f"{f} has {n} presigned targets ({len(set(lines))} distinct), expected {want}")
    log(f"{label}: {n} presigned URLs in {time.monotonic() - t0:.1f}s (valid {run.s.sigv4_expires}s; "
        f"~{sum(map(len, lines)) // n} bytes of path and query each)")
    return lines


def pool(run, base):
    """SIGV4_URLS presigned URLs for /bench/sigv4/item-N?x=N made with `portcullis sign`, NCPU
    at a time: a file of path?query lines."""
    d = run.work / "sigv4"
    f = d / "urls.txt"
    if run.dry:
        return f, "/bench/sigv4/item-1?x=1&X-Amz-..."
    lifetime_check(run)
    d.mkdir(parents=True, exist_ok=True)
    sign(run, SECRET, run.s.sigv4_expires, f"{base}/bench/sigv4/item-1?x=1")
    log(f"sigv4: signing {run.s.sigv4_urls} presigned URLs with portcullis sign ({NCPU} at a time)...")
    t0 = time.monotonic()
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(NCPU) as ex:
        urls = list(ex.map(lambda i: sign(run, SECRET, run.s.sigv4_expires, f"{base}/bench/sigv4/item-{i}?x={i}"),
                           range(1, run.s.sigv4_urls + 1)))
    f.write_text("".join(u[len(base):] + "\n" if u.startswith(base) else u + "\n" for u in urls))
    lines = _pool_checked(run, f, run.s.sigv4_urls, r"^/bench/sigv4/item-[0-9]*\?x=[0-9]*&X-Amz-", t0, "sigv4")
    return f, lines[0]


def unique_pool(run, base):
    """SIGV4_UNIQUE_URLS presigned URLs signed by botocore (tools/sigv4-urls.py; one `portcullis
    sign` process per URL would take minutes), same key, region and lifetime as sigv4's."""
    d = run.work / "sigv4-unique"
    f = d / "urls.txt"
    if run.dry:
        return f, "/bench/sigv4/item-1?x=1&X-Amz-..."
    lifetime_check(run)
    rc, _ = run_quiet([run.s.python, "-c", "import botocore"])
    if rc != 0:
        raise BenchError(f"sigv4_unique needs {run.s.python} with botocore (pip install botocore; or PYTHON=...)")
    d.mkdir(parents=True, exist_ok=True)
    log(f"sigv4_unique: signing {run.s.sigv4_unique_urls} presigned URLs with botocore...")
    t0 = time.monotonic()
    rc, out = run_quiet([run.s.python, run.here / "tools" / "sigv4-urls.py", "--base", base, "--count",
                         run.s.sigv4_unique_urls, "--out", f, "--access-key", KEY, "--secret", SECRET,
                         "--region", REGION, "--expires", run.s.sigv4_expires], timeout=600)
    if rc != 0:
        raise BenchError(f"tools/sigv4-urls.py failed:\n{out}")
    lines = _pool_checked(run, f, run.s.sigv4_unique_urls,
                          r"^/bench/sigv4/item-[0-9]*\?x=[0-9]*&X-Amz-.*&X-Amz-Signature=[0-9a-f]{64}$",
                          t0, "sigv4_unique")
    return f, lines[0]


def sigv4_check(run, p):
    """The guarded route answers 200 to presigned URLs of the pool and 403 to a tampered signature
    (one hex digit changed), no signature, the signature of another path, a wrong secret and an
    expired URL; the plain route answers 200 without any."""
    url = next(t.url for t in p.targets if t.name == "sigv4-route")
    base = url.split("/bench/", 1)[0]
    lines = [l for l in p.pool.read_text().splitlines() if l]
    first, last = lines[0], lines[-1]
    head, sig = first.split("X-Amz-Signature=", 1)
    flip = sig[:-1] + ("1" if sig[-1] == "0" else "0")
    other = sign(run, "not-the-" + SECRET, 600, f"{base}/bench/sigv4/item-1?x=1")
    expired = sign(run, SECRET, 1, f"{base}/bench/sigv4/item-1?x=1")
    run.checked = []
    ok = [run.expect_status(200, "presigned (first of the pool)", base + first),
          run.expect_status(200, "presigned (last of the pool)", base + last),
          run.expect_status(403, "signature with one digit changed", f"{base}{head}X-Amz-Signature={flip}"),
          run.expect_status(403, "no signature", base + first.split("?", 1)[0]),
          run.expect_status(403, "signature of another path", f"{base}{last.split('?', 1)[0]}?{first.split('?', 1)[1]}"),
          run.expect_status(403, "signed with a wrong secret", other)]
    time.sleep(2)
    ok += [run.expect_status(403, "expired (X-Amz-Expires=1, 2s ago)", expired),
           run.expect_status(200, "plain route, no signature", f"{base}/bench/plain/item-1")]
    log("sigv4 check: " + "; ".join(run.checked))
    if not all(ok):
        raise BenchError("the sigv4 route does not accept exactly the valid presigned URLs; refusing to benchmark it")
    log("sigv4 check passed: presigned URLs 200; tampered, unsigned, other-path, wrong-secret and expired ones 403")
