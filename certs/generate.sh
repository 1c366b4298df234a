#!/usr/bin/env bash
# Development certificates for Portcullis, made with the openssl CLI.
#
#   certs/generate.sh [OUTDIR]      (default: the directory of this script)
#
# Writes, into OUTDIR:
#   ca.crt / ca.key          dev CA (ECDSA P-256), 10 years
#   server.crt / server.key  ECDSA P-256, SAN DNS:localhost, IP:127.0.0.1, IP:::1   (serverAuth), 365 days
#   other.crt / other.key    RSA 2048,  SAN DNS:other.local, DNS:*.other.local      (serverAuth)
#   client.crt / client.key  ECDSA P-256, CN=demo-client, SAN DNS:demo-client, email (clientAuth)
#   cognito-demo-pool.key    RSA 2048: the workshop's local stand-in for a Cognito user pool's
#                            signing key (tokens: portcullis token mint --key ... --kid workshop-demo-1)
#   cognito-demo-pool.jwks.json  its public half as the pool's /.well-known/jwks.json would serve it
#                            (config/part1-cognito-local.yaml and others read it with jwks_file)
#
# Idempotent: files that already exist are kept (delete them to regenerate). A leaf whose key
# exists but whose certificate is missing is re-issued from the existing key. Private keys are
# written with mode 600 and are never committed (.gitignore covers certs/*.key and *.crt).
set -euo pipefail

out="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"  # absolute: later steps run inside it
cd "$out"
umask 077

days_ca=3650
days_leaf=${DAYS_LEAF:-365}   # Mozilla's TLS guidelines: leaf certificates live at most 366 days

log() { printf 'generate.sh: %s\n' "$*" >&2; }

new_key() { # new_key FILE TYPE
    local file="$1" type="$2"
    [[ -s "$file" ]] && return 0
    case "$type" in
        ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$file" ;;
        rsa) openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$file" ;;
    esac
    chmod 600 "$file"
    log "wrote $out/$file"
}

if [[ ! -s ca.crt || ! -s ca.key ]]; then
    rm -f ca.crt
    new_key ca.key ec
    openssl req -x509 -new -key ca.key -sha256 -days "$days_ca" \
        -subj "/O=Portcullis Dev/CN=Portcullis Dev CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out ca.crt 2>/dev/null
    chmod 644 ca.crt
    log "wrote $out/ca.crt"
fi

issue() { # issue NAME KEYTYPE SUBJECT SAN EKU
    local name="$1" type="$2" subject="$3" san="$4" eku="$5"
    [[ -s "$name.crt" && -s "$name.key" ]] && return 0
    new_key "$name.key" "$type"
    local ext csr
    ext="$(mktemp "$out/.ext.XXXXXX")"
    csr="$(mktemp "$out/.csr.XXXXXX")"
    trap 'rm -f "$ext" "$csr"' RETURN
    cat >"$ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
    openssl req -new -key "$name.key" -subj "$subject" -out "$csr" 2>/dev/null
    openssl x509 -req -in "$csr" -CA ca.crt -CAkey ca.key -sha256 -days "$days_leaf" \
        -set_serial "0x$(openssl rand -hex 16)" -extfile "$ext" -out "$name.crt" 2>/dev/null
    chmod 644 "$name.crt"
    log "wrote $out/$name.crt"
}

issue server ec "/O=Portcullis Dev/CN=localhost" "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
issue other rsa "/O=Portcullis Dev/CN=other.local" "DNS:other.local,DNS:*.other.local" serverAuth
issue client ec "/O=Portcullis Dev/CN=demo-client" "DNS:demo-client,email:demo-client@example.com" clientAuth

for name in server other client; do
    openssl verify -CAfile ca.crt "$name.crt" >/dev/null
done

# The workshop's demo user pool: a signing key and its key set (made again when the key is newer).
new_key cognito-demo-pool.key rsa
if [[ ! -s cognito-demo-pool.jwks.json || cognito-demo-pool.key -nt cognito-demo-pool.jwks.json ]]; then
    modulus="$(openssl rsa -in cognito-demo-pool.key -noout -modulus 2>/dev/null | sed 's/^Modulus=//')"
    python3 - "$modulus" >cognito-demo-pool.jwks.json <<'PY'
import base64, json, sys
n = base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b"=").decode()
key = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "workshop-demo-1", "e": "AQAB", "n": n}
print(json.dumps({"keys": [key]}, indent=2))
PY
    chmod 644 cognito-demo-pool.jwks.json
    log "wrote $out/cognito-demo-pool.jwks.json"
fi
log "certificates in $out are ready"
