"""The workshop's custom authorizer (Part 4) as a Lambda TOKEN authorizer: HS256 tokens issued by
the lab with a shared secret, checked with PyJWT. Unchanged Lambda code: it runs behind
adapter.py for Portcullis exactly as it would behind API Gateway.

Settings (environment): LAB_SECRET_FILE (default ../../config/secrets/part4-lab.key),
LAB_ISSUER (portcullis-lab), LAB_AUDIENCE (workshop).
"""
import os

import jwt

_HERE = os.path.dirname(os.path.abspath(__file__))
_SECRET_FILE = os.environ.get("LAB_SECRET_FILE", os.path.join(_HERE, "..", "..", "config", "secrets", "part4-lab.key"))
with open(_SECRET_FILE, "rb") as f:
    SECRET = f.read().rstrip(b"\r\n")
ISSUER = os.environ.get("LAB_ISSUER", "portcullis-lab")
AUDIENCE = os.environ.get("LAB_AUDIENCE", "workshop")


def handler(event, context):
    token = event.get("authorizationToken") or ""
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER, options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        raise Exception("Unauthorized")

    # One policy for the whole stage, so that a cached answer serves every method of the API
    # (a policy naming only event["methodArn"] would deny the other methods until it expires).
    arn = event["methodArn"].split("/")
    stage_wide = "/".join(arn[:2]) + "/*"
    effect = "Deny" if claims.get("role") == "banned" else "Allow"
    return {
        "principalId": claims["sub"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": stage_wide}],
        },
        "context": {"role": str(claims.get("role", "")), "sub": claims["sub"]},
    }
