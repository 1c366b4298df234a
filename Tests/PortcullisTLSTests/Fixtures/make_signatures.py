#!/usr/bin/env python3
"""Independent signatures for PortcullisTLS's verification tests.

Usage: python3 make_signatures.py OUTDIR

Writes OUTDIR/cases.json: one case per JOSE algorithm, each with a freshly generated key pair
(PEM), a random message and a signature made by pyca/cryptography (not OpenSSL-through-Swift).
ECDSA signatures are converted to JOSE's raw r||s form here, so the Swift side must convert them
back to DER itself.
"""
import json
import os
import sys

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
except ImportError as error:  # the Swift test turns this exit code into a clear failure
    sys.stderr.write(f"python 'cryptography' is missing ({error}); run: pip install -r Tests/requirements.txt\n")
    sys.exit(3)

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
CURVES = {"256": (ec.SECP256R1, 32), "384": (ec.SECP384R1, 48), "512": (ec.SECP521R1, 66)}


def pem_pair(private_key):
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private_pem, public_pem


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: make_signatures.py OUTDIR\n")
        return 2
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    cases = []
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for size, hash_type in HASHES.items():
        message = os.urandom(100)
        signature = rsa_key.sign(message, padding.PKCS1v15(), hash_type())
        cases.append(("RS" + size, rsa_key, message, signature))

        message = os.urandom(100)
        pss = padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=hash_type.digest_size)
        signature = rsa_key.sign(message, pss, hash_type())
        cases.append(("PS" + size, rsa_key, message, signature))

        curve, coordinate = CURVES[size]
        ec_key = ec.generate_private_key(curve())
        message = os.urandom(100)
        r, s = decode_dss_signature(ec_key.sign(message, ec.ECDSA(hash_type())))
        signature = r.to_bytes(coordinate, "big") + s.to_bytes(coordinate, "big")
        cases.append(("ES" + size, ec_key, message, signature))

    ed_key = ed25519.Ed25519PrivateKey.generate()
    message = os.urandom(100)
    cases.append(("EdDSA", ed_key, message, ed_key.sign(message)))

    out = []
    for alg, key, message, signature in cases:
        private_pem, public_pem = pem_pair(key)
        out.append({
            "alg": alg,
            "private_pem": private_pem,
            "public_pem": public_pem,
            "message": message.hex(),
            "signature": signature.hex(),
        })
    with open(os.path.join(outdir, "cases.json"), "w") as handle:
        json.dump(out, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
