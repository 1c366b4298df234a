"""sigv4_unique: a fresh signature on every request (what AWS SDKs send): SIGV4_UNIQUE_URLS
distinct presigned URLs cycled, so none comes back within the verified-request cache's reach
(2,048 entries per loop, cleared when full): every request verified in full. Same routes and
comparison as sigv4."""

from ..plan import Plan
from ..procs import log
from . import _routes, sigv4

NAME = "sigv4_unique"


def plan(run):
    s = run.s
    p = Plan(NAME, "SigV4 presigned URLs, a fresh signature on every request (HMAC-SHA256, no verified-request "
                   "cache hit) vs the same requests on a route without authorizer, one process, plain HTTP keep-alive")
    if s.sigv4_unique_urls // s.threads <= 4096 and run.want("portcullis"):
        log(f"WARNING: SIGV4_UNIQUE_URLS={s.sigv4_unique_urls} over {s.threads} wrk thread(s) repeats a URL "
            "within 4,096 requests: the verified-request cache may hit")
    if sigv4.routes(run, p, _routes.unique_pool) is None:
        return p
    p.load_desc = (f"-s wrk/url-pool.lua ({s.sigv4_unique_urls} distinct presigned URLs, cycled: none repeats within "
                   "the verified-request cache's reach; the same targets under /bench/plain/ for plain-route)")
    p.note = ("(one Portcullis process, two routes of one API measured alternately; every sigv4-route request "
              "carries a signature the gateway has not seen lately, so each is verified in full)")
    p.extra["sigv4"] = {"presigned_urls": s.sigv4_unique_urls, "expires_s": s.sigv4_expires, "signed_by": "botocore",
                        "cache_hits_expected": 0}
    return p
