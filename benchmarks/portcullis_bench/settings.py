"""The runner's knobs: each one an environment variable (as benchmarks/run.sh read them) and a
command-line flag of the same name (`DURATION` is `--duration`). A flag wins over the variable,
the variable over the default. `Settings.explicit` records which were set, because a port the
user chose must be free while a default port moves on by +100 when taken."""

import argparse
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent      # benchmarks/
ROOT = HERE.parent                                  # the repository

# (name, default, type, help). Order is the order of --help.
KNOBS = [
    ("DURATION", 10, int, "seconds of each measured wrk run"),
    ("ROUNDS", 3, int, "rounds; each runs every target once, the order rotating each round"),
    ("WARMUP", 3, int, "seconds of unmeasured load per target before the first round"),
    ("CONNECTIONS", 64, int, "wrk -c"),
    ("THREADS", 1, int, "wrk -t"),
    ("PAUSE", 1.0, float, "seconds of rest between two wrk runs"),
    ("SCENARIOS", "plain tls jwt", str, "space-separated scenarios, or 'all' (tls = tls_keepalive, jwt = jwt_cached)"),
    ("TARGETS", "portcullis nginx haproxy", str, "proxies to measure; portcullis-base adds BASE_BIN (plain)"),
    ("UPSTREAM", "stub", str, "stub (nginx, a small static body) or portcullis (`portcullis echo`)"),
    ("PIN", "wrk none", str, "placements, each scenario measured in every one: wrk, proxy, none"),
    ("CPU_WRK", "", str, "taskset -c list for wrk in pinned placements (default by PIN)"),
    ("CPU_PROXY", "", str, "the same for the proxy"),
    ("CPU_UPSTREAM", "", str, "the same for the upstream"),
    ("BENCH_PATH", "/bench/hello", str, "the path wrk loads"),
    ("PORTCULLIS_BIN", ".build/release/portcullis", str, "binary under test (relative to the repository)"),
    ("BASE_BIN", "", str, "the binary portcullis-base runs (a build of an earlier commit)"),
    ("PORT_UPSTREAM", 18001, int, "upstream port"),
    ("PORT_PORTCULLIS", 18080, int, "Portcullis port"),
    ("PORT_NGINX", 18081, int, "nginx port"),
    ("PORT_HAPROXY", 18082, int, "HAProxy port"),
    ("PORT_BASE", 18083, int, "portcullis-base port"),
    ("BUSY_PCT", 10.0, float, "a round beside more foreign CPU load than this (%% of the machine) is re-run"),
    ("BUSY_RETRIES", 2, int, "... at most this many times"),
    ("QUIET_WAIT", 30, int, "seconds to wait before a round for foreign load to go away"),
    ("START_TIMEOUT", 20, int, "seconds for a process to answer its first request"),
    ("STOP_TIMEOUT", 5, int, "seconds between SIGTERM and SIGKILL"),
    ("TLS_RESUME", 0, int, "TLS scenarios: 0 every connection a full handshake, 1 resumption on everywhere"),
    ("JWT_TOKENS", 50000, int, "jwt_unique: distinct tokens minted and cycled through"),
    ("SIGV4_URLS", 1000, int, "sigv4: presigned URLs made with `portcullis sign`"),
    ("SIGV4_EXPIRES", 3600, int, "sigv4, sigv4_unique: their lifetime in seconds"),
    ("SIGV4_UNIQUE_URLS", 20000, int, "sigv4_unique: distinct presigned URLs signed by botocore"),
    ("PYTHON", "python3", str, "the Python with PyJWT (JWT scenarios) and botocore (sigv4_unique)"),
    ("RESULTS_DIR", str(HERE / "results"), str, "where the JSON and the raw wrk output go"),
    ("KEEP_TMP", 0, int, "1 keeps the rendered configs and every process's log"),
    ("BENCH_README", "", str, "a README whose `make bench` section is rewritten with the results table"),
]

PLACEMENT_MODES = ("wrk", "proxy", "none")


class Settings:
    """Attributes are the knob names in lower case (`settings.duration`)."""

    def __init__(self, values, explicit, dry_run=False, argv=(), environ=None):
        for name, value in values.items():
            setattr(self, name.lower(), value)
        self.explicit = frozenset(explicit)
        self.dry_run = dry_run
        self.argv = list(argv)
        self.environ = dict(os.environ if environ is None else environ)

    def absolute(self, path):
        """A path knob relative to the repository root, as run.sh resolved them."""
        if not path:
            return None
        p = Path(path)
        return p if p.is_absolute() else ROOT / p

    def environment(self):
        """The knobs set in the environment, as NAME=value words."""
        return [f"{n}={_quote(self.environ[n])}" for n, *_ in KNOBS if n in self.environ]

    def command(self):
        """The runner's command line, without the environment."""
        return " ".join(["python3 -m portcullis_bench"] + [_quote(a) for a in self.argv])


def _quote(s):
    import shlex
    return shlex.quote(s)


def parse(argv, environ=None):
    environ = os.environ if environ is None else environ
    ap = argparse.ArgumentParser(
        prog="python3 -m portcullis_bench",
        description="Portcullis beside nginx and HAProxy: one upstream, one load, every target "
                    "measured interleaved, pinned and unpinned. See benchmarks/README.md.")
    for name, default, typ, help_ in KNOBS:
        ap.add_argument("--" + name.lower().replace("_", "-"), dest=name, type=typ, default=None,
                        metavar=name, help=f"{help_} (env {name}, default {default!r})")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the plan (scenarios x placements x targets, ports, configs rendered "
                         "into a temp dir) and exit; starts nothing")
    ap.add_argument("--readme", dest="BENCH_README", default=None, type=str, metavar="PATH",
                    help="same as --bench-readme")
    args = ap.parse_args(argv)
    values, explicit = {}, set()
    for name, default, typ, _ in KNOBS:
        flag = getattr(args, name)
        if flag is not None:
            values[name] = flag
            explicit.add(name)
        elif name in environ and environ[name] != "":
            try:
                values[name] = typ(environ[name])
            except ValueError:
                ap.error(f"{name}={environ[name]!r} is not a valid {typ.__name__}")
            explicit.add(name)
        else:
            values[name] = default
    if values["TLS_RESUME"] not in (0, 1):
        ap.error(f"TLS_RESUME must be 0 or 1 (got {values['TLS_RESUME']})")
    modes = values["PIN"].split()
    if values["PIN"] == "both":
        modes = ["wrk", "none"]
    bad = [m for m in modes if m not in PLACEMENT_MODES]
    if bad or not modes:
        ap.error(f"PIN must list some of wrk, proxy, none (got {values['PIN']!r})")
    values["PIN"] = " ".join(modes)
    if values["UPSTREAM"] not in ("stub", "portcullis"):
        ap.error(f"UPSTREAM must be stub or portcullis (got {values['UPSTREAM']!r})")
    return Settings(values, explicit, dry_run=args.dry_run, argv=argv, environ=environ)
