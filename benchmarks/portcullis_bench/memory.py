"""python3 -m portcullis_bench.memory: the memory each proxy holds, idle and with IDLE_CONNECTIONS
idle keep-alive connections, one worker each, beside the same upstream (the stub nginx).

For every target, one at a time (so they never share the machine's memory pressure):
  1. start it; `fresh` is its resident memory once it answers;
  2. WARMUP seconds of wrk load (64 connections), then the load stops: `idle` is its resident
     memory at rest after serving traffic, which is what a sidecar costs between bursts;
  3. IDLE_CONNECTIONS clients each open a connection, send one GET, read the answer and keep the
     connection open, saying nothing (portcullis_bench.idle): `held` is the memory with them;
     (held - idle) / IDLE_CONNECTIONS is what one idle keep-alive connection costs;
  4. the clients close; once the proxy holds no more sockets than before, `closed` shows what a
     burst of connections leaves behind.
Resident memory is VmRSS summed over the target's process group (nginx: master and worker; the
worker alone is reported beside it). Figures go to RESULTS_DIR/memory-STAMP.json and, with
BENCH_README, between the `memory:begin` and `memory:end` markers of that README."""

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import idle, measure
from .plan import Server
from .procs import BenchError, Placement, Processes, ensure_tools, log, run_quiet
from .runner import Run, server_config, start_upstream
from .settings import HERE, ROOT, parse

BEGIN = "<!-- memory:begin -->"
END = "<!-- memory:end -->"
MIB = 1024 * 1024

TEMPLATES = {"portcullis": ("portcullis", HERE / "portcullis-bench.yaml", "PORT_PORTCULLIS"),
             "nginx": ("nginx", HERE / "conf" / "nginx-plain.conf", "PORT_NGINX"),
             "haproxy": ("haproxy", HERE / "conf" / "haproxy-plain.cfg", "PORT_HAPROXY")}


def group_pids(pgid):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(entry))
    return sorted(pids)


def rss_bytes(pid):
    """(VmRSS, RssAnon, RssFile) in bytes: all resident pages; those only this process has
    (heap, stacks); and those mapped from files (code and read-only data of the binary and its
    libraries, shared with every other process that maps the same files)."""
    got = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    got[key] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return got.get("VmRSS", 0), got.get("RssAnon", 0), got.get("RssFile", 0)


def sockets(pid):
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def sample(pgid):
    """Bytes resident in the group: total, anon(ymous), file; worker: the largest process's total."""
    pids = group_pids(pgid)
    per = [rss_bytes(p) for p in pids]
    return {"total": sum(r[0] for r in per), "anon": sum(r[1] for r in per), "file": sum(r[2] for r in per),
            "worker": max((r[0] for r in per), default=0), "processes": len(pids),
            "sockets": sum(sockets(p) for p in pids)}


def settle(pgid, seconds=2.0):
    """Resident memory stops moving once the allocator has given back what it will: sample every
    0.25 s until two samples 1 s apart agree within 64 KiB, at most `seconds` * 5."""
    last = sample(pgid)
    deadline = time.monotonic() + seconds * 5
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = sample(pgid)
        if abs(now["total"] - last["total"]) <= 64 * 1024:
            return now
        last = now
    return last


def wait_sockets(pgid, at_most, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sample(pgid)["sockets"] <= at_most:
            return True
        time.sleep(0.25)
    return False


def measure_target(run, name, count):
    kind, template, knob = TEMPLATES[name]
    port = run.port(knob)
    url = f"http://127.0.0.1:{port}{run.s.bench_path}"
    # room for every idle client and the upstream side (nginx counts both in worker_connections)
    limit = count + 1024
    if kind == "haproxy":
        # HAProxy reserves two descriptors per connection up front (client and server side) and
        # refuses to start when the descriptor limit cannot hold them.
        import resource
        fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        limit = min(limit, (fds - 128) // 2)
        if count > limit - 64:
            log(f"haproxy: the descriptor limit ({fds}) allows maxconn {limit}: {limit - 64} idle connections, "
                f"not {count}; its per-connection figure is measured with those")
            count = limit - 64
    server = Server(name, kind, template, port, url, vars={"BENCH_MAX_CONNECTIONS": limit})
    argv, check, _ = server_config(run, server)
    rc, out = run_quiet(check)
    if rc != 0:
        raise BenchError(f"{name}: config check failed:\n{out}")
    run.procs.start(name, "proxy", argv, run.where)
    try:
        run.procs.wait_ready(name, url, (), run.s.start_timeout)
        pgid = run.procs.pid(name)
        fresh = settle(pgid)
        load = measure.Load(1, 64, str(HERE / "wrk" / "report.lua"))
        measure.run_wrk(load, url, max(run.s.warmup, 1), run.work / f"memory-warmup-{name}.txt", run.where)
        if not wait_sockets(pgid, fresh["sockets"] + 64):
            log(f"{name}: still holds {sample(pgid)['sockets']} sockets after the warm-up")
        idle_s = settle(pgid)
        held, failures = asyncio.run(_hold(url, count, pgid))
        if failures:
            raise BenchError(f"{name}: {len(failures)} of {count} idle connections failed, e.g. {failures[:3]}")
        if not wait_sockets(pgid, idle_s["sockets"] + 64):
            log(f"{name}: still holds {sample(pgid)['sockets']} sockets after the clients closed")
        closed = settle(pgid)
    finally:
        run.procs.stop(name)
    per_conn = (held["total"] - idle_s["total"]) / count
    log(f"{name:<10} fresh {fresh['total'] / MIB:5.1f} MiB  idle {idle_s['total'] / MIB:5.1f} MiB  "
        f"{count} idle conns {held['total'] / MIB:6.1f} MiB (+{(held['total'] - idle_s['total']) / MIB:5.1f}, "
        f"{per_conn:6.0f} B each)  closed {closed['total'] / MIB:5.1f} MiB")
    return {"fresh": fresh, "idle": idle_s, "held": held, "closed": closed, "connections": count,
            "per_connection_bytes": round(per_conn)}


async def _hold(url, count, pgid):
    release = asyncio.Event()
    failures, task = await idle.hold_connections(url, count, release)
    # every connection answered; let the proxy finish its bookkeeping, then read its memory
    await asyncio.sleep(0.5)
    held = await asyncio.get_running_loop().run_in_executor(None, settle, pgid)
    release.set()
    await task
    return held, failures


def _mib(b):
    return f"{b / MIB:.1f} MiB"


def markdown(doc):
    rows = ["| target | fresh | idle (after load) | anon / file | largest process | idle conns | added | per conn "
            "| after they close |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in doc["targets"].items():
        i = r["idle"]
        rows.append(f"| {name} | {_mib(r['fresh']['total'])} | {_mib(i['total'])} | "
                    f"{i['anon'] / MIB:.1f} / {i['file'] / MIB:.1f} | {_mib(i['worker'])} of {i['processes']} | "
                    f"{r['connections']:,} | +{_mib(r['held']['total'] - i['total'])} | "
                    f"{r['per_connection_bytes']:,} B | {_mib(r['closed']['total'])} |")
    return "\n".join(rows)


def section(doc, command):
    return "\n".join([
        "_Written by `make bench` (`benchmarks/portcullis_bench/memory.py`); only the text between the "
        "`memory:begin` and `memory:end` markers is rewritten._", "",
        f"- **Date**: {doc['date']}; commit `{doc['git']}`; one worker each; upstream: the stub nginx",
        f"- **Command**: `{command}`",
        "- **Steps**: start (fresh); wrk -t1 -c64 for the warm-up, then rest (idle); "
        f"{doc['connections']} clients each send one GET and keep the connection open (idle conns); "
        "the clients close (after they close). Resident memory (VmRSS) of the whole process group.", "",
        markdown(doc)])


def write_readme(path, body):
    path = Path(path)
    text = path.read_text()
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        i = text.index(BEGIN) + len(BEGIN)
        text = text[:i] + "\n" + body + "\n" + text[text.index(END):]
    else:
        text = text.rstrip("\n") + f"\n\n## Memory\n\n{BEGIN}\n{body}\n{END}\n"
    path.write_text(text)


def _raise_fd_limit(count):
    """HAProxy wants two descriptors per connection it may hold; the proxies inherit this limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count * 2 + 4096
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log(f"could not raise the descriptor limit to {want} (hard limit {hard}); HAProxy may refuse to start")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    count = int(os.environ.get("IDLE_CONNECTIONS", "10000"))
    if count < 1:
        log(f"ERROR: IDLE_CONNECTIONS={count}: at least 1 connection is needed to measure one's cost")
        return 1
    settings = parse(argv)
    targets = [t for t in settings.targets.split() if t in TEMPLATES]
    _raise_fd_limit(count)
    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="portcullis-memory."))
    run = Run(settings, work / "none", Placement("none"), {})
    run.work.mkdir(parents=True)
    run.procs = Processes(run.work, settings.stop_timeout)
    run.scenario = "memory"
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "connections": count, "targets": {}}
    rc, commit = run_quiet(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    doc["git"] = commit.strip() if rc == 0 else "unknown"
    try:
        start_upstream(run)
        for t in targets:
            doc["targets"][t] = measure_target(run, t, count)
    except BenchError as e:
        log(f"ERROR: {e}")
        return 1
    finally:
        run.procs.close()
        if settings.keep_tmp:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results = Path(settings.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"memory-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(doc) + "\n")
    print(markdown(doc))
    log(f"results: {out}")
    if settings.bench_readme:
        command = f"IDLE_CONNECTIONS={count} python3 -m portcullis_bench.memory " + " ".join(argv)
        write_readme(settings.bench_readme, section(doc, command.strip()))
        log(f"wrote the memory table into {settings.bench_readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
