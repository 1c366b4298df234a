"""The "Latest `make bench`" section of benchmarks/README.md: the results table with the machine,
the date, the commit and the exact command, written between two fixed markers. Only the text
between the markers is rewritten; without them, the section is appended."""

import os
from pathlib import Path

from . import report
from .settings import ROOT

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
HEADING = "## Latest `make bench`"


def _make_ancestor():
    """The argv of the `make` this runner runs under (`make bench`), or None."""
    pid = os.getppid()
    for _ in range(5):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        if argv and os.path.basename(argv[0].decode(errors="replace")) in ("make", "gmake"):
            return ["make"] + [a.decode(errors="replace") for a in argv[1:]]
        pid = int(stat.rsplit(") ", 1)[1].split()[1])
        if pid <= 1:
            return None
    return None


def command_line(settings, cwd=None):
    """The exact command: the knobs set in the environment, `make bench` when make ran it, and
    the runner's own command line with its working directory."""
    import shlex
    cwd = Path(cwd or os.getcwd()).resolve()
    env = settings.environment()
    make = _make_ancestor()
    cmd = settings.command() if make else " ".join(env + [settings.command()])
    if cwd != ROOT:
        try:
            cmd = f"cd {cwd.relative_to(ROOT)} && {cmd}"
        except ValueError:
            cmd = f"cd {cwd} && {cmd}"
    if make:
        return f"{' '.join(env + [shlex.quote(a) for a in make])}, which ran: {cmd}"
    return cmd


def is_short(load):
    """Shorter than the defaults (10 s, 3 rounds): a smoke run, not a result."""
    return load["duration_s"] < 10 or load["rounds"] < 3


def _when(stamp):
    # 20261130T201500Z -> 2026-11-30 20:15 UTC
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]} UTC"


def section(doc, results_file=None):
    load, host, v = doc["load"], doc["host"], doc["versions"]
    git = doc.get("git", {})
    placements = ", ".join(
        f"`{p['pinning']['mode']}`" + (f" (wrk on CPU {p['pinning']['wrk']}, proxy on {p['pinning']['proxy']}, "
                                       f"upstream on {p['pinning']['upstream']})" if p["pinning"]["mode"] != "none"
                                       else " (unpinned: the scheduler decides)")
        for p in doc["placements"])
    lines = ["_Written by `make bench` (`benchmarks/portcullis_bench/readme.py`); only the text between the "
             "`bench:begin` and `bench:end` markers is rewritten._", ""]
    if is_short(load):
        lines += [f"**Smoke run** (DURATION={load['duration_s']}, ROUNDS={load['rounds']}, WARMUP={load['warmup_s']}: "
                  "shorter than the defaults). It shows that the runner works end to end; **its figures are not "
                  "results**. Run `make bench` with the default settings for figures to quote.", ""]
    commit = git.get("commit", "unknown") + (" with uncommitted changes" if git.get("dirty") else "")
    lines += [
        f"- **Date**: {_when(doc['date'])}; commit `{commit}`",
        f"- **Machine**: {host['cpu_model']}, {host['cpus']} CPUs, Linux {host['kernel']}; "
        f"{v.get('portcullis') or 'no Portcullis binary'}, {v['nginx']}, HAProxy {v['haproxy']}, wrk {v['wrk']}",
        "- **Command**: " + " which ran ".join(f"`{part}`" for part in doc.get("command", "").split(", which ran: ")),
        f"- **Load**: `wrk -t{load['threads']} -c{load['connections']} -d{load['duration_s']}s --latency` on "
        f"`{load['path']}`, {load['warmup_s']} s warm-up per target, median of {load['rounds']} round(s); "
        f"upstream `{doc['upstream']}`; placements {placements}",
    ]
    if results_file:
        lines.append(f"- **Results**: `{results_file}` on the machine that ran it (every round, raw wrk output "
                     "beside it; `results/` is not in git)")
    lines += ["", report.markdown(doc), "",
              "cpu/req is the proxy's CPU time (user + system, all its processes) per request; upstream cpu/req the "
              "upstream's. Ratios are the subject's median over the reference's (req/s > 1: more served; "
              "p99 and cpu/req < 1: shorter tail, less CPU). See \"Reading the table\" above."]
    return "\n".join(lines)


def placeholder():
    return ("_Written by `make bench` (`benchmarks/portcullis_bench/readme.py`); only the text between the "
            "`bench:begin` and `bench:end` markers is rewritten._\n\n"
            "No run recorded here yet: `make bench` (about 15 minutes on the 2-vCPU VM) measures plain, TLS and "
            "JWT beside nginx and HAProxy, pinned and unpinned, and writes its table here.")


def write(path, body):
    path = Path(path)
    text = path.read_text()
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        i = text.index(BEGIN) + len(BEGIN)
        j = text.index(END)
        text = text[:i] + "\n" + body + "\n" + text[j:]
    else:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{BEGIN}\n{body}\n{END}\n"
    path.write_text(text)
