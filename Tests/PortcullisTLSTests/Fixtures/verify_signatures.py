#!/usr/bin/env python3
"""Verifies signatures made by PortcullisTLS with pyca/cryptography.

Usage: python3 verify_signatures.py CASES_JSON

CASES_JSON is a list of {"alg", "public_pem", "message" (hex), "signature" (hex; ECDSA in JOSE
raw r||s form)}. Prints one "ALG ok" / "ALG FAILED" line per case; exits 1 if any failed.
"""
import json
import sys

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
except ImportError as error:
    sys.stderr.write(f"python 'cryptography' is missing ({error}); run: pip install -r Tests/requirements.txt\n")
    sys.exit(3)

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def verify(case):
    alg = case["alg"]
    key = serialization.load_pem_public_key(case["public_pem"].encode())
    message = bytes.fromhex(case["message"])
    signature = bytes.fromhex(case["signature"])
    if alg == "EdDSA":
        key.verify(signature, message)
        return
    hash_type = HASHES[alg[2:]]
    if alg.startswith("RS"):
        key.verify(signature, message, padding.PKCS1v15(), hash_type())
    elif alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=hash_type.digest_size)
        key.verify(signature, message, pss, hash_type())
    elif alg.startswith("ES"):
        half = len(signature) // 2
        r = int.from_bytes(signature[:half], "big")
        s = int.from_bytes(signature[half:], "big")
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hash_type()))
    else:
        raise ValueError(f"unknown algorithm {alg}")


def main():
    with open(sys.argv[1]) as handle:
        cases = json.load(handle)
    failed = False
    for case in cases:
        try:
            verify(case)
            print(case["alg"], "ok")
        except (InvalidSignature, ValueError) as error:
            print(case["alg"], "FAILED", repr(error))
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
