"""One module per scenario. Each has NAME and `plan(run) -> Plan` (it may make material first:
certificates, keys, tokens, URL pools; in a dry run it only names their paths)."""

import importlib

ALL = ["plain", "tls_keepalive", "tls_handshake", "jwt_cached", "jwt_unique", "sigv4",
       "sigv4_unique", "resource_policy"]
# Short names; results keep run.sh's scenario names.
ALIASES = {"tls": "tls_keepalive", "jwt": "jwt_cached"}


def resolve(spec):
    """SCENARIOS ("plain tls jwt", "all") -> canonical names, in the given order, no repeats."""
    names = ALL if spec.strip() == "all" else [ALIASES.get(s, s) for s in spec.split()]
    unknown = [s for s in names if s not in ALL]
    if unknown:
        raise ValueError(f"unknown scenario {' '.join(unknown)!r} (known: {' '.join(ALL)}; "
                         f"aliases: {', '.join(f'{a}={b}' for a, b in ALIASES.items())}; or all)")
    return list(dict.fromkeys(names))


def module(name):
    return importlib.import_module(f"{__name__}.{name}")
