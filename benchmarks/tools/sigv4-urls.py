#!/usr/bin/env python3
"""Presigned URLs for the sigv4_unique scenario of the benchmark runner (benchmarks/portcullis_bench), signed with botocore (an
SigV4 implementation independent of Portcullis), many thousands in a few seconds where one
`portcullis sign` process per URL would take minutes.

  sigv4-urls.py --base http://127.0.0.1:18080 --count N --out FILE \
                --access-key AKID --secret SECRET --region eu-west-1 [--expires S] [--prefix /bench/sigv4]

Writes N lines, `PREFIX/item-I?x=I&X-Amz-...&X-Amz-Signature=...` (path and query only, base
removed), I = 1..N: every line is a different request with a signature of its own, for the host
of BASE (what wrk sends as Host), valid for S seconds from now.
"""
import argparse
import sys

try:
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as e:  # pragma: no cover
    sys.exit(f"sigv4-urls.py: {e}; install botocore (pip install botocore)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="scheme://host:port the URLs are for (signed as Host)")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--expires", type=int, default=3600)
    p.add_argument("--prefix", default="/bench/sigv4")
    a = p.parse_args()

    base = a.base.rstrip("/")
    creds = Credentials(a.access_key, a.secret)
    auth = SigV4QueryAuth(creds, "execute-api", a.region, expires=a.expires)
    with open(a.out, "w") as out:
        for i in range(1, a.count + 1):
            request = AWSRequest(method="GET", url=f"{base}{a.prefix}/item-{i}?x={i}")
            auth.add_auth(request)
            url = request.prepare().url
            if not url.startswith(base + "/"):
                sys.exit(f"sigv4-urls.py: botocore made {url}, not under {base}")
            out.write(url[len(base):] + "\n")


if __name__ == "__main__":
    main()
