"""jwt_unique: a different RS256 token on every request (wrk/jwt-unique.lua cycles through
JWT_TOKENS tokens, more than Portcullis's 10,000-entry cache holds): every request one
signature verification, on both targets."""

from ..plan import Plan
from ..procs import log
from . import _jwt

NAME = "jwt_unique"


def plan(run):
    s = run.s
    if s.jwt_tokens // s.threads <= 10000:
        log(f"WARNING: JWT_TOKENS={s.jwt_tokens} over {s.threads} wrk thread(s) repeats a token within 10,000 "
            "requests: Portcullis's token cache (10,000 entries) may hit")
    p = Plan(NAME, f"JWT RS256, a different token on every request, plain HTTP keep-alive, GET {s.bench_path}")
    _jwt.targets(run, p)
    tokens = _jwt.bulk(run)
    m = _jwt.material(run)
    p.good_tokens = m.get("bulk", ())   # the check also sends the load's first and last token
    p.wrk_script = run.here / "wrk" / "jwt-unique.lua"
    p.wrk_env = {"BENCH_TOKENS": str(tokens), "BENCH_WRK_THREADS": str(s.threads)}
    p.load_desc = f"-s wrk/jwt-unique.lua ({s.jwt_tokens} distinct RS256 tokens, cycled)"
    p.extra["jwt"] = {"tokens": s.jwt_tokens, "minted_by": "PyJWT"}
    return p
