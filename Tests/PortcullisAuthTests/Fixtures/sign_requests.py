#!/usr/bin/env python3
"""Signs requests for API Gateway (service execute-api) with botocore, an independent SigV4
implementation, and prints them as they go on the wire: method, URL, headers, body. The Swift
tests verify each signature the way Portcullis does for a request it receives."""
import base64
import json
import sys

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HOST = "abc123.execute-api.eu-west-1.amazonaws.com"
KEY, SECRET = "AKIAPORTCULLISTEST01", "pOrTcUlLiS/sEcReT+kEy/0123456789abcdefGHIJ"
# Temporary credentials (with a session token) have an access key of their own.
TEMP_KEY = "ASIAPORTCULLISTEST02"
TOKEN = "FwoGZXIvYXdzEXAMPLEsessiontoken/+="

CASES = [
    # (method, path as sent on the wire, query params or raw query, headers, body)
    ("GET", "/dev/items", None, {}, b""),
    ("GET", "/dev/items/a%20b", None, {}, b""),
    ("GET", "/dev/caf%C3%A9/%E2%82%AC", None, {}, b""),
    ("GET", "/dev/mypath%2Fnext", None, {}, b""),
    ("GET", "/dev/@connections/a+b/semi;colon/%21%2A%27%28%29", None, {}, b""),
    ("GET", "/dev/search", [("b", "2"), ("a", "1"), ("a", "0"), ("q", "hello world"), ("$filter", "id eq 123")], {}, b""),
    # A raw query in canonical form: botocore signs a raw query as written, while API Gateway
    # (and Portcullis) decode and encode it again, so `%7E` written for `~` would fail on both.
    ("GET", "/dev/search", "k=a%2Bb&empty=&x=~&sp=a%20b", {}, b""),
    ("POST", "/dev/items", None, {"Content-Type": "application/json"}, b'{"name":"x","n":1}'),
    ("PUT", "/dev/items/42", [("v", "1")], {"X-Custom": "  spaced   value  "}, "caf\u00e9 \u20ac".encode()),
    ("DELETE", "/dev/items/42", None, {}, b""),
]


def wire(method, path, query, headers, body, presign, token):
    url = "https://" + HOST + path
    params = None
    if isinstance(query, str):
        url += "?" + query
    elif query:
        params = query
    request = AWSRequest(method=method, url=url, params=params, headers=dict(headers), data=body)
    creds = Credentials(KEY if token is None else TEMP_KEY, SECRET, token)
    if presign:
        SigV4QueryAuth(creds, "execute-api", "eu-west-1", expires=300).add_auth(request)
    else:
        SigV4Auth(creds, "execute-api", "eu-west-1").add_auth(request)
    prepared = request.prepare()
    out_headers = [["Host", HOST]] + [[k, v] for k, v in prepared.headers.items() if k.lower() != "host"]
    return {
        "method": method,
        "url": prepared.url,
        "headers": out_headers,
        "body": base64.b64encode(prepared.body or b"").decode(),
        "presigned": presign,
    }


def main():
    out = {"access_key": KEY, "temporary_access_key": TEMP_KEY, "secret": SECRET, "token": TOKEN, "region": "eu-west-1", "requests": []}
    for presign in (False, True):
        for token in (None, TOKEN):
            for case in CASES:
                # botocore's presigner moves a body into the query string: presigned URLs carry none.
                if presign and case[4]:
                    continue
                out["requests"].append(wire(*case, presign=presign, token=token))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
