"""Measuring: one wrk run with the Lua reporter (wrk/report.lua prints one `WRK_JSON {...}` line),
and around it the CPU ticks of the target's and the upstream's process groups (/proc/PID/stat of
every process in the group), the machine's busy ticks (/proc/stat), this runner's reaped
children's ticks (wrk: its CPU use) and TCP PassiveOpens (/proc/net/snmp). From those: CPU per
request of the proxy and of the upstream, wrk's share of its core, connections per request, and
`other`: the share of the machine used by none of them (foreign load, which makes a round
untrustworthy: it is re-run, at most BUSY_RETRIES times)."""

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from .procs import BenchError, log

CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def group_ticks(pgid):
    """utime + stime (clock ticks) of every live process whose process group is pgid."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:            # gone between listdir and open: expected
            continue
        fields = stat.rsplit(") ", 1)[1].split()
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total


def busy_ticks():
    """Machine-wide non-idle ticks: user, nice, system, irq, softirq, steal."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    return sum(int(parts[i]) for i in (1, 2, 3, 6, 7, 8))


def self_ticks():
    """CPU of this runner and its reaped children (wrk, curl...), in clock ticks."""
    t = os.times()
    return (t.user + t.system + t.children_user + t.children_system) * CLK_TCK


def passive_opens():
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Tcp:")]
    return int(rows[1][rows[0].index("PassiveOpens")])


def machine_busy_pct(seconds=1.0):
    b0 = busy_ticks()
    time.sleep(seconds)
    return (busy_ticks() - b0) / CLK_TCK / seconds / NCPU * 100


def wait_quiet(busy_pct, quiet_wait):
    """Between rounds the benchmark's own processes are idle, so machine-wide CPU use is foreign
    load. Wait (at most quiet_wait s) until a 1-second sample is at most busy_pct."""
    waited = 0
    while True:
        pct = round(machine_busy_pct())
        if pct <= busy_pct:
            return
        if waited >= quiet_wait:
            log(f"machine still {pct}% busy after {waited}s of waiting; going on")
            return
        if waited == 0:
            log(f"machine {pct}% busy with something else; waiting up to {quiet_wait}s for it to calm down")
        time.sleep(2)
        waited += 3


@dataclass
class Load:
    """What wrk sends: the same for every target of a scenario."""
    threads: int
    connections: int
    script: str
    extra: list = field(default_factory=list)
    env: dict = field(default_factory=dict)

    def argv(self, url, seconds, where):
        return (["timeout", "-k", "5", str(seconds + 30)] + where.prefix("wrk") +
                ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s", "--latency",
                 "-s", self.script] + self.extra + [url])


def run_wrk(load, url, seconds, out, where):
    """One wrk run; its whole output goes to `out`; returns the WRK_JSON object. wrk runs in a
    session of its own and is killed with the runner (Ctrl-C, SIGTERM)."""
    env = dict(os.environ, **load.env)
    with open(out, "wb") as f:
        p = subprocess.Popen(load.argv(url, seconds, where), stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            rc = p.wait()
        except BaseException:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
            raise
    text = out.read_text(errors="replace")
    if rc != 0:
        raise BenchError(f"wrk against {url} failed (status {rc}):\n" +
                         "\n".join("    " + l for l in text.splitlines()[-20:]))
    for line in text.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    raise BenchError(f"no WRK_JSON line in {out}")


def wrk_errors(j):
    return sum(j["errors"].values())


def measure(load, url, seconds, out, where, proxy_pgid, upstream_pgid):
    """One measured run with CPU accounting around it. Returns the round's figures. The /proc scans
    of the process groups sit outside the runner's and the machine's windows, so that the
    runner's own work is not counted as wrk's CPU."""
    c0, u0 = group_ticks(proxy_pgid), group_ticks(upstream_pgid)
    o0, s0, b0 = passive_opens(), self_ticks(), busy_ticks()
    j = run_wrk(load, url, seconds, out, where)
    b1, s1, o1 = busy_ticks(), self_ticks(), passive_opens()
    c1, u1 = group_ticks(proxy_pgid), group_ticks(upstream_pgid)
    return figures(j, proxy=c1 - c0, upstream=u1 - u0, busy=b1 - b0, runner=s1 - s0, opens=o1 - o0)


def figures(j, proxy, upstream, busy, runner, opens, hz=CLK_TCK, ncpu=NCPU):
    """A round's figures from wrk's JSON and tick deltas (pure: unit-tested)."""
    reqs = j["requests"]
    secs = j["duration_us"] / 1e6
    per_req = lambda ticks: round(ticks / hz * 1e6 / reqs, 1) if reqs else 0.0
    other = (busy - proxy - upstream - runner) / hz / secs / ncpu * 100 if secs else 0.0
    return {
        "proxy_cpu_us_per_req": per_req(proxy),
        "upstream_cpu_us_per_req": per_req(upstream),
        "wrk_cpu_pct": round(runner / hz / secs * 100) if secs else 0,
        "tcp_accepts_per_req": round(opens / reqs, 2) if reqs else 0.0,
        "other_cpu_pct": round(max(other, 0.0), 1),
        "wrk": j,
    }


def measure_round(load, url, seconds, out, where, proxy_pgid, upstream_pgid, busy_pct, retries,
                  quiet_wait, name):
    """The re-run rule: a round beside more than busy_pct of foreign load runs again, at most
    `retries` times; the last attempt counts either way (and its `other` flags it)."""
    attempt = 0
    while True:
        wait_quiet(busy_pct, quiet_wait)
        fig = measure(load, url, seconds, out, where, proxy_pgid, upstream_pgid)
        if fig["other_cpu_pct"] <= busy_pct:
            break
        if attempt >= retries:
            log(f"WARNING: {fig['other_cpu_pct']}% of the machine was busy elsewhere during this round; keeping it")
            break
        attempt += 1
        log(f"{name}: {fig['other_cpu_pct']}% of the machine was busy elsewhere; running this round again ({attempt}/{retries})")
    fig["attempts"] = attempt + 1
    return fig
