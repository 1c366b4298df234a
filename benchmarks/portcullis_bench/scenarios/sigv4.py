"""sigv4: presigned URLs (query-string SigV4) on /bench/sigv4/{proxy+} against the plain route
/bench/plain/{proxy+} of the same process with the same URLs (wrk/url-pool.lua swaps the prefix):
the difference is the verification. SIGV4_URLS URLs cycled: each comes back within the
verified-request cache's reach."""

from ..plan import Plan, Target
from . import _routes

NAME = "sigv4"


def routes(run, p, make_pool):
    """Both SigV4 scenarios: the pool, then a plain-route and a sigv4-route target on it."""
    base = _routes.server(run, p, run.here / "portcullis-sigv4.yaml", "/bench/plain/hello")
    if base is None:
        return None
    pool, first = make_pool(run, base)
    item = first[len("/bench/sigv4/"):].split("?", 1)[0]
    p.targets = [Target("plain-route", f"{base}/bench/plain/{first[len('/bench/sigv4/'):]}", "portcullis", f"/plain/{item}"),
                 Target("sigv4-route", base + first, "portcullis", f"/sigv4/{item}")]
    p.pool = pool
    p.subjects = ["sigv4-route"]
    p.check = _routes.sigv4_check
    p.wrk_script = run.here / "wrk" / "url-pool.lua"
    p.wrk_env = {"BENCH_URLS": str(pool), "BENCH_WRK_THREADS": str(run.s.threads)}
    return pool


def plan(run):
    s = run.s
    p = Plan(NAME, "SigV4 presigned URLs (HMAC-SHA256) vs the same requests on a route without authorizer, "
                   "one process, plain HTTP keep-alive")
    if routes(run, p, _routes.pool) is None:
        return p
    p.load_desc = (f"-s wrk/url-pool.lua ({s.sigv4_urls} presigned URLs, cycled; the same targets under "
                   "/bench/plain/ for plain-route)")
    p.note = ("(one Portcullis process, two routes of one API measured alternately: /bench/plain/{proxy+} without "
              "authorizer, /bench/sigv4/{proxy+} with type: sigv4; identical requests apart from that path segment)")
    p.extra["sigv4"] = {"presigned_urls": s.sigv4_urls, "expires_s": s.sigv4_expires, "signed_by": "portcullis sign"}
    return p
