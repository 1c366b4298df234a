"""python3 -m portcullis_bench: Portcullis beside nginx and HAProxy, in every placement PIN names
(default: `wrk` pinned, then `none`), every scenario SCENARIOS names (default plain, tls, jwt).
Knobs: environment variables as run.sh had them, or the same names as flags (--help).

Exit status: 0; 1 if something could not be set up (the message says what); 3 if the run finished
but a target had socket errors or non-2xx answers; 130 on Ctrl-C. Every process it started is
stopped on every exit."""

import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import readme, report, scenarios
from .measure import NCPU
from .procs import BenchError, Processes, ensure_tools, log, placement, run_quiet
from .runner import Run, describe, run_scenario, start_upstream
from .settings import ROOT, parse


def _first_line(argv):
    rc, out = run_quiet(argv, timeout=10)
    return out.splitlines()[0].strip() if out.strip() else ""


def versions(settings):
    b = settings.absolute(settings.portcullis_bin)
    port = _first_line([b, "version"]) if b and os.access(b, os.X_OK) else None
    ng = _first_line(["nginx", "-v"])
    hp = _first_line(["haproxy", "-v"]).split()
    wrk = _first_line(["wrk", "-v"]).split()
    return {"portcullis": port, "nginx": ng.split("version: ", 1)[-1],
            "haproxy": hp[2] if len(hp) > 2 else "", "wrk": wrk[1] if len(wrk) > 1 else ""}


def host():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": NCPU, "cpu_model": model, "kernel": platform.release()}


def git_info():
    rc, commit = run_quiet(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty, _ = run_quiet(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--"])
    return {"commit": commit.strip() if rc == 0 else "unknown", "dirty": dirty != 0}


def load_json(s):
    return {"tool": "wrk", "threads": s.threads, "connections": s.connections, "duration_s": s.duration,
            "warmup_s": s.warmup, "rounds": s.rounds, "path": s.bench_path}


def dry_run(settings, names):
    work = Path(tempfile.mkdtemp(prefix="portcullis-bench-plan."))
    modes = settings.pin.split()
    print(f"plan: {len(names)} scenario(s) x {len(modes)} placement(s); targets {settings.targets}; "
          f"upstream {settings.upstream}; wrk -t{settings.threads} -c{settings.connections} -d{settings.duration}s, "
          f"{settings.warmup}s warm-up, {settings.rounds} round(s); configs rendered into {work}")
    material = {}
    for mode in modes:
        where = placement(mode, settings, NCPU)
        run = Run(settings, work / mode, where, material, dry=True)
        run.work.mkdir(parents=True)
        conf = start_upstream(run)
        print(f"placement {where.mode}: wrk on {where.wrk or 'any CPU'}, proxy on {where.proxy or 'any CPU'}, "
              f"upstream on {where.upstream or 'any CPU'}")
        print(f"  upstream {settings.upstream} on 127.0.0.1:{run.upstream_port}  {conf}")
        for name in names:
            run.scenario = name
            print("\n".join(describe(run, scenarios.module(name).plan(run))))
    return 0


def _term(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    settings = parse(argv)
    try:
        names = scenarios.resolve(settings.scenarios)
    except ValueError as e:
        log(f"ERROR: {e}")
        return 1
    if settings.dry_run:
        return dry_run(settings, names)
    signal.signal(signal.SIGTERM, _term)
    binary = settings.absolute(settings.portcullis_bin)
    needs_bin = "portcullis" in settings.targets.split() or settings.upstream == "portcullis"
    if needs_bin and not os.access(binary, os.X_OK):
        log(f"ERROR: no Portcullis binary at {binary} (swift build -c release, or PORTCULLIS_BIN=...; "
            "TARGETS='nginx haproxy' runs the references alone)")
        return 1
    work = None
    placements, suspect = [], False
    try:
        ensure_tools()
        work = Path(tempfile.mkdtemp(prefix="portcullis-bench.", dir=os.environ.get("TMPDIR")))
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        results = Path(settings.results_dir)
        run_dir = results / stamp
        run_dir.mkdir(parents=True, exist_ok=True)
        summary = run_dir / "summary.txt"
        material = {}
        for mode in settings.pin.split():
            where = placement(mode, settings, NCPU)
            run = Run(settings, work / where.mode, where, material)
            run.work.mkdir(parents=True, exist_ok=True)
            run.procs = Processes(run.work, settings.stop_timeout)
            log(f"pin={where.mode} (wrk: {where.wrk or 'any'}, proxy: {where.proxy or 'any'}, upstream: "
                f"{where.upstream or 'any'}); {NCPU} CPUs; raw output in {run_dir}")
            scen_json, plain = {}, None
            try:
                start_upstream(run)
                for name in names:
                    res, skipped = run_scenario(run, scenarios.module(name), run_dir / where.mode / name)
                    if res is None:
                        scen_json[name] = skipped
                        with open(summary, "a") as f:
                            f.write(f"== scenario {name}: skipped ({skipped['reason']}) [pin={where.mode}]\n")
                        continue
                    text = report.table(res, {"threads": settings.threads, "connections": settings.connections,
                                              "duration": settings.duration, "rounds": settings.rounds,
                                              "pin": where.mode, "upstream": settings.upstream}, plain)
                    print(text, flush=True)
                    with open(summary, "a") as f:
                        f.write(text + "\n")
                    scen_json[name] = report.scenario_json(res, plain)
                    summ = res.summary()
                    if name == "plain":
                        plain = summ
                    suspect |= any(x["errors"] for x in summ.values())
            finally:
                run.procs.close()
            placements.append((where.json(), scen_json))
        meta = {"date": stamp, "host": host(), "versions": versions(settings), "load": load_json(settings),
                "upstream": settings.upstream, "git": git_info(), "command": readme.command_line(settings)}
        doc = report.run_json(meta, placements)
        out = results / f"{stamp}.json"
        out.write_text(json.dumps(doc) + "\n")
        shutil.copyfile(out, results / "latest.json")
        log(f"results: {out} (raw wrk output and summary.txt in {run_dir}/)")
        if settings.bench_readme:
            try:
                shown = out.resolve().relative_to(ROOT)
            except ValueError:
                shown = out
            readme.write(settings.bench_readme, readme.section(doc, shown))
            log(f"wrote the results table into {settings.bench_readme} (section \"Latest `make bench`\")")
    except BenchError as e:
        log(f"ERROR: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; stopped every process")
        return 130
    finally:
        if work and work.exists():
            if settings.keep_tmp:
                log(f"kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    if suspect:
        log("WARNING: some target had socket errors or non-2xx answers; see the errors column")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
