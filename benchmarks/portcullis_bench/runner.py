"""One placement of a run: start the upstream, then for each scenario start its servers, check
them (readiness, the smoke check, the scenario's own check), warm them up, measure them in
rotating order over ROUNDS rounds, stop them. The upstream runs across the placement's scenarios."""

import json
import time

from . import measure, report
from .procs import BenchError, check_config, http_status, log, resolve_port, run_quiet, server_files
from .settings import HERE


class Run:
    """What scenarios see: the settings, the placement, the work dir, material made once per run
    (certificates, keys, tokens: `material` cache), and a few helpers."""

    def __init__(self, settings, work, placement, material, dry=False):
        self.s = settings
        self.work = work                   # WORK/<placement>
        self.where = placement
        self.material = material           # shared by every placement of the run
        self.dry = dry
        self.bin = settings.absolute(settings.portcullis_bin)
        self.base_bin = settings.absolute(settings.base_bin)
        self.here = HERE
        self.procs = None
        self.upstream_port = None
        self.checked = []                  # expect_status's log of one check
        self.scenario = ""                 # configs go to WORK/<placement>/<scenario>/<server>/

    @property
    def root(self):
        return self.work.parent            # WORK: material lives here, shared by placements

    def want(self, target):
        return target in self.s.targets.split()

    def port(self, knob):
        return resolve_port(self.s, knob, check=not self.dry)

    def status(self, url, *curl_args, timeout=5):
        return http_status(url, *curl_args, timeout=timeout)

    def expect_status(self, want, label, *curl_args):
        """One request; logs and returns False when the status differs."""
        code = self.status(curl_args[-1], *curl_args[:-1])
        if code != str(want):
            log(f"{label}: answered {code}, expected {want}")
            return False
        self.checked.append(f"{label} {code}")
        return True


def server_config(run, server):
    """Render a server's config into WORK/<placement>/<scenario>/<name>/: (run argv, check argv, config)."""
    variables = {"BENCH_DIR": run.work / run.scenario / server.name, "BENCH_LISTEN_PORT": server.port,
                 "BENCH_UPSTREAM_PORT": run.upstream_port, "BENCH_MAX_CONNECTIONS": 4096, **server.vars}
    return server_files(server.kind, server.template, run.work / run.scenario / server.name, variables,
                        server.binary or run.bin)


def start_upstream(run):
    """The upstream every proxy of the placement shares: the stub nginx (a small static body) or
    `portcullis echo`. Returns (process name, config path or None)."""
    from .plan import Server
    port = run.port("PORT_UPSTREAM")
    run.upstream_port = port
    if run.s.upstream == "stub":
        server = Server("upstream", "nginx", HERE / "conf" / "stub-upstream-nginx.conf", port,
                        f"http://127.0.0.1:{port}/hello")
        argv, check, conf = server_config(run, server)
        if run.dry:
            return conf
        check_config("upstream", check)
    else:
        conf = None
        argv = [run.bin, "echo", "--listen", f"127.0.0.1:{port}"]
        if run.dry:
            return "(portcullis echo, no config)"
    run.procs.start("upstream", "upstream", argv, run.where)
    run.procs.wait_ready("upstream", f"http://127.0.0.1:{port}/hello", (), run.s.start_timeout)
    log(f"upstream ({run.s.upstream}) ready on 127.0.0.1:{port}; pin={run.where.mode}")
    return conf


def start_servers(run, plan):
    for server in plan.servers:
        argv, check, _ = server_config(run, server)
        check_config(server.name, check)
        run.procs.start(server.name, "proxy", argv, run.where)
        run.procs.wait_ready(server.name, server.ready_url, plan.check_args, run.s.start_timeout)


def smoke_check(run, plan):
    """One request through each target: 200, the path stripped, the four headers added."""
    for t in plan.targets:
        _, out = run_quiet(["curl", "-s", "--max-time", "5", "-w", "\n%{http_code}", *plan.check_args, t.url],
                           timeout=10)
        body, _, code = out.rpartition("\n")
        if code != "200":
            raise BenchError(f"{t.name}: GET {t.url} answered {code or 'nothing'}: {body}\n"
                             f"{t.name} output:\n{run.procs.output(t.process)}\n"
                             f"{t.name} does not answer 200; refusing to benchmark error responses")
        miss = upstream_saw(body, t.upath, plan.smoke_proto)
        if miss:
            log(f"WARNING {t.name}: upstream saw: {body}")
            log(f"WARNING {t.name}: {'; '.join(miss)}")
        else:
            log(f"{t.name} ok: upstream saw {t.upath} with X-Forwarded-* and X-Request-Id")


def upstream_saw(body, upath, proto):
    """What is wrong with the upstream's description of the request (echo or stub JSON)."""
    lc = body.lower()
    miss = []
    if f'"path":"{upath.lower()}' not in lc:
        miss.append(f"path not stripped to {upath}")
    headers = None
    try:
        headers = json.loads(lc).get("headers")
    except (ValueError, AttributeError):
        pass
    for h in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id"):
        # the stub upstream always writes every key (empty when absent): a value is needed there
        if h not in lc or (isinstance(headers, dict) and h in headers and not headers[h]):
            miss.append(f"{h} missing")
    if '"x-forwarded-proto"' in lc and f'"x-forwarded-proto":"{proto}"' not in lc:
        miss.append(f"x-forwarded-proto is not {proto}")
    return miss


def measure_scenario(run, plan, raw):
    """Smoke check, the scenario's check, warm-up, then ROUNDS rounds in rotating order."""
    s = run.s
    raw.mkdir(parents=True, exist_ok=True)
    smoke_check(run, plan)
    if plan.check:
        plan.check(run, plan)
    load = measure.Load(s.threads, s.connections, str(plan.wrk_script or HERE / "wrk" / "report.lua"),
                        list(plan.wrk_extra), dict(plan.wrk_env))
    log(f"warm-up: {s.warmup}s per target")
    for t in plan.targets:
        measure.run_wrk(load, t.url, s.warmup, raw / f"warmup-{t.name}.txt", run.where)
        time.sleep(s.pause)
    rounds = {t.name: [] for t in plan.targets}
    n = len(plan.targets)
    upstream_pgid = run.procs.pid("upstream")
    for r in range(1, s.rounds + 1):
        # rotate the order every round so no target always runs first (or right after warm-up)
        for i in range(n):
            t = plan.targets[(i + r - 1) % n]
            fig = measure.measure_round(load, t.url, s.duration, raw / f"round{r}-{t.name}.txt", run.where,
                                        run.procs.pid(t.process), upstream_pgid, s.busy_pct,
                                        s.busy_retries, s.quiet_wait, t.name)
            rounds[t.name].append(fig)
            j = fig["wrk"]
            log(f"{t.name:<10} round {r}/{s.rounds}: {j['rps']:8.0f} req/s  p99 {report.fmt_us(j['p99_us']):<8} "
                f"cpu/req {fig['proxy_cpu_us_per_req']:5.1f}us  up/req {fig['upstream_cpu_us_per_req']:5.1f}us  "
                f"wrk {fig['wrk_cpu_pct']:3d}%  conn/req {fig['tcp_accepts_per_req']:.2f}  "
                f"other {fig['other_cpu_pct']:4.1f}%  errors {measure.wrk_errors(j)}")
            time.sleep(s.pause)
    return report.ScenarioResult(plan.name, plan.description, {t.name: t.url for t in plan.targets}, rounds,
                                 plan.load_desc, plan.note, plan.compare_to, plan.subjects, plan.extra)


def run_scenario(run, mod, raw):
    """Plan, start, measure, stop one scenario. Returns (ScenarioResult or None, JSON)."""
    run.scenario = mod.NAME
    plan = mod.plan(run)
    if plan.skip:
        log(f"scenario {plan.name}: skipped ({plan.skip})")
        return None, report.skipped_json(plan.skip)
    if not plan.targets:
        raise BenchError(f"{plan.name}: no target selected (TARGETS='{run.s.targets}')")
    try:
        start_servers(run, plan)
        res = measure_scenario(run, plan, raw)
    finally:
        for server in plan.servers:
            run.procs.stop(server.name)
    return res, None


def describe(run, plan):
    """The dry-run lines of one scenario: targets, ports, configs rendered into the work dir."""
    lines = [f"  {plan.name}: {plan.description}"]
    if plan.skip:
        return lines + [f"    skipped: {plan.skip}"]
    for server in plan.servers:
        _, _, conf = server_config(run, server)
        lines.append(f"    server {server.name:<16} {server.kind:<10} 127.0.0.1:{server.port}  {conf}")
    for t in plan.targets:
        lines.append(f"    target {t.name:<16} {t.url}  (CPU of {t.process}; upstream sees {t.upath})")
    script = plan.wrk_script or HERE / "wrk" / "report.lua"
    extra = " ".join(plan.wrk_extra)
    lines.append(f"    load   wrk -t{run.s.threads} -c{run.s.connections} -d{run.s.duration}s --latency -s {script}"
                 f"{' ' + extra if extra else ''}; compare to {' '.join(plan.compare_to)}; "
                 f"check: {plan.check.__name__ if plan.check else 'smoke only'}")
    return lines
