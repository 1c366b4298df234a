#!/usr/bin/env python3
"""RS256 tokens for the JWT scenarios of the benchmark runner (benchmarks/portcullis_bench), made with PyJWT (+ cryptography),
a library independent of Portcullis and HAProxy.

  jwt-tokens.py bulk  --key PRIV.pem --count N --out FILE [--ttl S] [--iss I] [--aud A] [--procs P]
      N valid tokens, one per line, each different (sub and jti differ), for jwt_unique.
  jwt-tokens.py check --key PRIV.pem --other-key OTHER.pem --pub PUB.pem --out DIR [--iss I] [--aud A]
      one token per file in DIR, for the accept/refuse check before measuring:
        valid        accepted (200)
        tampered     valid token with one signature byte changed
        other_key    RS256, signed with a key the proxy does not know
        expired      exp 10 minutes in the past
        wrong_iss    iss is not the configured issuer
        wrong_aud    aud is not the configured audience
        alg_none     {"alg":"none"} and no signature
        hs256_pub    HS256 with the RSA public key PEM as the HMAC secret (key confusion)
      every one but "valid" must be refused (401).
"""
import argparse
import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import sys
import time

try:
    import jwt  # PyJWT
    from cryptography.hazmat.primitives import serialization
except ImportError as e:  # pragma: no cover
    sys.exit(f"jwt-tokens.py: {e}; install PyJWT and cryptography (pip install pyjwt cryptography)")


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def claims(args, i, now, **over):
    c = {"iss": args.iss, "aud": args.aud, "sub": f"bench-user-{i}", "iat": now,
         "exp": now + args.ttl, "jti": f"bench-{os.getpid()}-{i}"}
    c.update(over)
    return c


_KEY = None


def _init(path):
    global _KEY
    with open(path, "rb") as f:
        _KEY = serialization.load_pem_private_key(f.read(), None)


def _mint(job):
    args, lo, hi, now = job
    return [jwt.encode(claims(args, i, now), _KEY, algorithm="RS256") for i in range(lo, hi)]


def bulk(args):
    now = int(time.time())
    procs = max(1, args.procs)
    step = max(1, (args.count + procs * 4 - 1) // (procs * 4))
    jobs = [(args, lo, min(lo + step, args.count), now) for lo in range(0, args.count, step)]
    tmp = args.out + ".tmp"
    with multiprocessing.Pool(procs, _init, (args.key,)) as pool, open(tmp, "w") as out:
        for chunk in pool.imap(_mint, jobs):
            out.write("\n".join(chunk) + "\n")
    os.replace(tmp, args.out)


def check(args):
    _init(args.key)
    with open(args.other_key, "rb") as f:
        other = serialization.load_pem_private_key(f.read(), None)
    with open(args.pub, "rb") as f:
        pub_pem = f.read()
    now = int(time.time())
    valid = jwt.encode(claims(args, 0, now), _KEY, algorithm="RS256")
    head, payload, sig = valid.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    hs_input = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64u(json.dumps(claims(args, 0, now)).encode())
    tokens = {
        "valid": valid,
        "tampered": f"{head}.{payload}.{b64u(bytes(raw))}",
        "other_key": jwt.encode(claims(args, 0, now), other, algorithm="RS256"),
        "expired": jwt.encode(claims(args, 0, now - 3600, exp=now - 600), _KEY, algorithm="RS256"),
        "wrong_iss": jwt.encode(claims(args, 0, now, iss=args.iss + "-other"), _KEY, algorithm="RS256"),
        "wrong_aud": jwt.encode(claims(args, 0, now, aud=args.aud + "-other"), _KEY, algorithm="RS256"),
        "alg_none": b64u(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "."
                    + b64u(json.dumps(claims(args, 0, now)).encode()) + ".",
        "hs256_pub": hs_input + "." + b64u(hmac.new(pub_pem, hs_input.encode(), hashlib.sha256).digest()),
    }
    os.makedirs(args.out, exist_ok=True)
    for name, tok in tokens.items():
        with open(os.path.join(args.out, name), "w") as f:
            f.write(tok + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("bulk", "check"):
        s = sub.add_parser(name)
        s.add_argument("--key", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--iss", default="bench")
        s.add_argument("--aud", default="bench")
        s.add_argument("--ttl", type=int, default=6 * 3600, help="seconds (default 6 h)")
        if name == "bulk":
            s.add_argument("--count", type=int, required=True)
            s.add_argument("--procs", type=int, default=os.cpu_count() or 1)
        else:
            s.add_argument("--other-key", required=True)
            s.add_argument("--pub", required=True)
    args = p.parse_args()
    bulk(args) if args.cmd == "bulk" else check(args)


if __name__ == "__main__":
    main()
