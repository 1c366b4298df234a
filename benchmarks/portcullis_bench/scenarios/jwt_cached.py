"""jwt_cached (alias jwt): one RS256 token on every request. Portcullis verifies it once and then
finds it in its token cache; HAProxy's jwt_verify (2.6: no cache) checks it on every request."""

from ..plan import Plan
from . import _jwt

NAME = "jwt_cached"


def plan(run):
    p = Plan(NAME, f"JWT RS256, the same token on every request, plain HTTP keep-alive, GET {run.s.bench_path}")
    _jwt.targets(run, p)
    m = _jwt.material(run)
    p.wrk_extra = ["-H", f"Authorization: Bearer {m['token']}"]
    p.load_desc = '-H "Authorization: Bearer <one RS256 token>"'
    p.extra["jwt"] = {"tokens": 1, "token_bytes": len(m["token"]), "minted_by": m["token_by"]}
    return p
