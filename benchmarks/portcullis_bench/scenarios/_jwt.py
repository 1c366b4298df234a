"""JWT material and checks (jwt_cached, jwt_unique): an RSA-2048 key pair (openssl), the token of
jwt_cached (`portcullis token mint` when the binary has it, else PyJWT), good and bad tokens for
the accept/refuse check (tools/jwt-tokens.py check) and, for jwt_unique, JWT_TOKENS distinct
tokens (tools/jwt-tokens.py bulk). Portcullis and HAProxy verify with the same public key, issuer
and audience; nginx (Debian's nginx-light: no njs, no auth_jwt) sits these scenarios out."""

from ..measure import NCPU
from ..procs import BenchError, log, run_quiet
from . import _proxies

ISSUER = AUDIENCE = "bench"


def material(run):
    if "jwt" in run.material:
        return run.material["jwt"]
    d = run.root / "jwt"
    m = {"dir": d, "vars": {"BENCH_JWT_PUBKEY": d / "jwt.pub.pem", "BENCH_JWT_ISSUER": ISSUER,
                            "BENCH_JWT_AUDIENCE": AUDIENCE},
         "token": "<RS256 token>", "token_by": "portcullis token mint"}
    if run.dry:
        run.material["jwt"] = m
        return m
    py = run.s.python
    rc, _ = run_quiet([py, "-c", "import jwt, cryptography"])
    if rc != 0:
        raise BenchError(f"the JWT scenarios need {py} with PyJWT and cryptography "
                         "(pip install pyjwt cryptography; or PYTHON=...)")
    d.mkdir(parents=True, exist_ok=True)
    for k in ("jwt", "other"):
        rc, out = run_quiet(["openssl", "genpkey", "-quiet", "-algorithm", "RSA", "-pkeyopt",
                             "rsa_keygen_bits:2048", "-out", d / f"{k}.key"])
        if rc != 0:
            raise BenchError(f"openssl genpkey failed:\n{out}")
    rc, out = run_quiet(["openssl", "pkey", "-in", d / "jwt.key", "-pubout", "-out", d / "jwt.pub.pem"])
    if rc != 0:
        raise BenchError(f"openssl pkey -pubout failed:\n{out}")
    rc, out = run_quiet([py, run.here / "tools" / "jwt-tokens.py", "check", "--key", d / "jwt.key",
                         "--other-key", d / "other.key", "--pub", d / "jwt.pub.pem", "--out", d / "check",
                         "--iss", ISSUER, "--aud", AUDIENCE], timeout=120)
    if rc != 0:
        raise BenchError(f"tools/jwt-tokens.py check failed:\n{out}")
    rc, out = run_quiet([run.bin, "token", "mint", "--key", d / "jwt.key", "--alg", "RS256", "--iss", ISSUER,
                         "--aud", AUDIENCE, "--sub", "bench-user", "--ttl", "6h"])
    out = out.strip()
    if rc == 0 and out.count(".") == 2 and "\n" not in out:
        m["token"] = out
    else:
        log(f"portcullis token mint is not available ({out.splitlines()[0] if out else rc}); "
            "the cached token comes from PyJWT")
        m["token"], m["token_by"] = (d / "check" / "valid").read_text().strip(), "PyJWT"
    log(f"JWT: RSA-2048 key pair in {d}; the jwt_cached token made by {m['token_by']} ({len(m['token'])} bytes)")
    run.material["jwt"] = m
    return m


def bulk(run):
    """JWT_TOKENS distinct valid tokens, one per line (jwt_unique), made once per run."""
    m = material(run)
    f = m["dir"] / "tokens.txt"
    if run.dry or "bulk" in m:
        return f
    import time
    log(f"minting {run.s.jwt_tokens} RS256 tokens with PyJWT ({NCPU} processes)...")
    t0 = time.monotonic()
    rc, out = run_quiet([run.s.python, run.here / "tools" / "jwt-tokens.py", "bulk", "--key", m["dir"] / "jwt.key",
                         "--count", run.s.jwt_tokens, "--out", f, "--iss", ISSUER, "--aud", AUDIENCE,
                         "--procs", NCPU], timeout=3600)
    if rc != 0:
        raise BenchError(f"tools/jwt-tokens.py bulk failed:\n{out}")
    lines = [l for l in f.read_text().splitlines() if l]
    if len(lines) != run.s.jwt_tokens or len(set(lines)) != len(lines):
        raise BenchError(f"{f} has {len(lines)} tokens ({len(set(lines))} distinct), expected {run.s.jwt_tokens} distinct")
    log(f"minted {len(lines)} distinct tokens in {time.monotonic() - t0:.0f}s ({f.stat().st_size // 1048576} MiB)")
    m["bulk"] = (lines[0], lines[-1])
    return f


def targets(run, p):
    m = material(run)
    p.check_args = ["-H", f"Authorization: Bearer {m['token']}"]
    p.check = jwt_check
    if run.want("portcullis"):
        _proxies.add(run, p, "portcullis", run.here / "portcullis-jwt.yaml", variables=m["vars"])
    if run.want("nginx"):
        log("nginx: no JWT verification (Debian's nginx has neither njs nor auth_jwt): not in this scenario")
    if run.want("haproxy"):
        _proxies.add(run, p, "haproxy", run.here / "conf" / "haproxy-jwt.cfg", variables=m["vars"])
    if not p.targets and not run.dry:
        raise BenchError(f"no JWT-capable target selected (TARGETS='{run.s.targets}'; nginx cannot verify JWTs)")
    p.note = ("(nginx: no JWT verification, not measured; HAProxy 2.6 has no verified-token cache: "
              "it checks the RS256 signature on every request)")


def jwt_check(run, p):
    """Every target accepts the valid tokens (200) and refuses with 401 a missing token and every
    bad one: tampered signature, another key, expired, wrong iss, wrong aud, alg none, HS256
    signed with the RSA public key as secret."""
    m = material(run)
    cases = [(f.name, 200 if f.name == "valid" else 401, ["-H", f"Authorization: Bearer {f.read_text().strip()}"])
             for f in sorted((m["dir"] / "check").iterdir())]
    cases.append(("missing", 401, []))
    for tok in getattr(p, "good_tokens", ()):   # the load's own (jwt_unique)
        cases.append(("load", 200, ["-H", f"Authorization: Bearer {tok}"]))
    bad = False
    for t in p.targets:
        seen = []
        for name, want, args in cases:
            code = run.status(t.url, *args)
            seen.append(f"{name} {code}")
            if code != str(want):
                log(f"{t.name}: token '{name}' answered {code}, expected {want}")
                bad = True
        log(f"{t.name}: {', '.join(seen)}")
    if bad:
        raise BenchError("a target does not accept exactly the valid tokens; refusing to benchmark it")
    log("JWT check passed: valid tokens 200, missing/forged/expired/wrong-claim tokens 401 on every target")
