#!/usr/bin/env python3
"""Mints JWTs with PyJWT (and pyca/cryptography keys) for PortcullisAuthTests.

Usage: make_tokens.py OUT_DIR NOW
Writes OUT_DIR/tokens.json: the public key set, PEMs, the HMAC secret and named tokens, each
with the outcome the Swift verifier must reach. An independent implementation makes every
signature, so a Swift bug cannot cancel itself out in a round trip.
"""
import base64
import hashlib
import hmac
import json
import os
import sys

try:
    import jwt  # PyJWT
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"missing Python package ({e}); run: pip install -r Tests/requirements.txt\n")
    sys.exit(3)

out_dir, now = sys.argv[1], int(sys.argv[2])
ISS = "https://issuer.example/pool"
AUD = "client-1"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def pem_public(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def pem_private(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


keys = {
    "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "p256": ec.generate_private_key(ec.SECP256R1()),
    "p384": ec.generate_private_key(ec.SECP384R1()),
    "p521": ec.generate_private_key(ec.SECP521R1()),
    "ed": ed25519.Ed25519PrivateKey.generate(),
}
alg_key = {
    "RS256": "rsa", "RS384": "rsa", "RS512": "rsa", "PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
    "ES256": "p256", "ES384": "p384", "ES512": "p521", "EdDSA": "ed",
}
secret = b64(os.urandom(48))  # 64 ASCII characters: long enough for HS512


def jwk(kid, key):
    d = json.loads(jwt.algorithms.get_default_algorithms()[
        {"rsa": "RS256", "p256": "ES256", "p384": "ES384", "p521": "ES512", "ed": "EdDSA"}[kid]
    ].to_jwk(key.public_key()))
    d["kid"] = kid
    d["use"] = "sig"
    return d


def claims(**over):
    c = {"iss": ISS, "aud": AUD, "sub": "user-1", "iat": now - 10, "exp": now + 600, "token_use": "id",
         "cognito:groups": ["admin", "users"], "email": "ana@example.com"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def sign(alg, payload, kid=None, headers=None):
    h = dict(headers or {})
    if alg.startswith("HS"):
        key = secret
    else:
        key = keys[alg_key[alg]]
        h.setdefault("kid", kid or alg_key[alg])
    return jwt.encode(payload, key, algorithm=alg, headers=h)


tokens = []


def add(name, token, expect, reason=None):
    tokens.append({"name": name, "token": token, "expect": expect, "reason": reason})


for alg in list(alg_key) + ["HS256", "HS384", "HS512"]:
    add(f"valid-{alg}", sign(alg, claims()), "allow")

# Registered-claim refusals (properly signed).
add("expired", sign("RS256", claims(exp=now - 120)), "refuse", "Token expired")
add("not-yet-valid", sign("RS256", claims(nbf=now + 600)), "refuse", "Token not yet valid (nbf)")
add("issued-in-future", sign("RS256", claims(iat=now + 600)), "refuse", "Token issued in the future (iat)")
add("no-exp", sign("RS256", claims(exp=None)), "refuse", "Token has no exp")
add("wrong-iss", sign("RS256", claims(iss="https://evil.example/pool")), "refuse", "Invalid issuer")
add("wrong-aud", sign("RS256", claims(aud="client-2")), "refuse", "Invalid audience")
add("aud-list-ok", sign("RS256", claims(aud=["x", AUD])), "allow")
add("access-ok", sign("RS256", claims(aud=None, client_id=AUD, token_use="access", scope="read write")), "allow")
add("wrong-client-id", sign("RS256", claims(aud=None, client_id="client-2", token_use="access")), "refuse", "Invalid client_id")
add("wrong-token-use", sign("RS256", claims(token_use="refresh")), "refuse", "Invalid token_use")
add("unknown-kid", sign("RS256", claims(), kid="rotated-away"), "refuse", "Unknown kid rotated-away")

# Forgeries.
valid = sign("RS256", claims())
h, p, s = valid.split(".")
add("stripped-signature", f"{h}.{p}.", "refuse", "Token has no signature")
flipped = ("A" if s[0] != "A" else "B") + s[1:]
add("altered-signature", f"{h}.{p}.{flipped}", "refuse", "Invalid signature")
forged_payload = b64(json.dumps(claims(sub="admin-by-forgery")).encode())
add("altered-payload", f"{h}.{forged_payload}.{s}", "refuse", "Invalid signature")
none_header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
add("alg-none", f"{none_header}.{p}.", "refuse", "Unsigned token (alg none)")
none_upper = b64(json.dumps({"alg": "None"}).encode())
add("alg-None", f"{none_upper}.{p}.", "refuse", "Unsigned token (alg none)")
# The classic confusion: HS256 keyed with the RSA public key's PEM, naming the RSA kid.
confused_header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa"}).encode())
signing_input = f"{confused_header}.{p}".encode()
mac = hmac.new(pem_public(keys["rsa"]).encode(), signing_input, hashlib.sha256).digest()
add("hmac-with-rsa-public-key", f"{confused_header}.{p}.{b64(mac)}", "refuse", "Algorithm HS256 not allowed")

doc = {
    "now": now,
    "issuer": ISS,
    "audience": AUD,
    "secret": secret,
    "jwks": {"keys": [jwk(k, v) for k, v in keys.items()]},
    "public_pem": {k: pem_public(v) for k, v in keys.items()},
    "private_pem": {k: pem_private(v) for k, v in keys.items()},
    "pyjwt": jwt.__version__,
    "tokens": tokens,
}
with open(os.path.join(out_dir, "tokens.json"), "w") as f:
    json.dump(doc, f, indent=1)
