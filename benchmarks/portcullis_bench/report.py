"""Turning rounds into figures: medians, spread, ratios, the table run.sh printed (plus the
upstream's CPU per request), the JSON of benchmarks/results/*.json (run.sh's schema; fields are
added, never renamed) and the Markdown table `make bench` writes into benchmarks/README.md.
Pure functions over plain dicts: test_report.py checks them without running anything."""

import statistics
from dataclasses import dataclass, field


@dataclass
class ScenarioResult:
    """One scenario measured in one placement. rounds: target -> list of round figures
    (measure.figures plus "attempts"), in table order."""
    name: str
    description: str
    urls: dict
    rounds: dict
    load_desc: str = ""
    note: str = ""
    compare_to: list = field(default_factory=lambda: ["nginx", "haproxy"])
    subjects: list = field(default_factory=lambda: ["portcullis"])
    extra: dict = field(default_factory=dict)

    @property
    def targets(self):
        return list(self.rounds)

    def summary(self):
        return {t: summarize(r) for t, r in self.rounds.items()}

    def refs(self):
        return [r for r in self.compare_to if r in self.rounds]


def median(values):
    values = list(values)
    return statistics.median(values) if values else 0


def summarize(rounds):
    """Medians over the rounds; `other` is the worst round; spread = (max-min)/median of req/s."""
    rps = [r["wrk"]["rps"] for r in rounds]
    m = median(rps)
    return {
        "rps": round(m, 2),
        "p99_us": median(r["wrk"]["p99_us"] for r in rounds),
        "p50_us": median(r["wrk"]["p50_us"] for r in rounds),
        "rps_spread_pct": round((max(rps) - min(rps)) / m * 100, 1) if m > 0 else 0.0,
        "proxy_cpu_us_per_req": round(median(r["proxy_cpu_us_per_req"] for r in rounds), 1),
        "upstream_cpu_us_per_req": round(median(r["upstream_cpu_us_per_req"] for r in rounds), 1),
        "wrk_cpu_pct": round(median(r["wrk_cpu_pct"] for r in rounds)),
        "tcp_accepts_per_req": round(median(r["tcp_accepts_per_req"] for r in rounds), 2),
        "max_other_cpu_pct": max((r["other_cpu_pct"] for r in rounds), default=0.0),
        "errors": sum(sum(r["wrk"]["errors"].values()) for r in rounds),
    }


def ratio(a, b):
    """a / b to two decimals; None (JSON null) when b is not positive."""
    return round(a / b, 2) if b > 0 else None


def fmt_ratio(r):
    return "null" if r is None else f"{r:.2f}"


def fmt_us(us):
    return f"{us / 1000:.2f}ms" if us >= 1000 else f"{int(us)}us"


def ratios(res, summary=None):
    """{"sub/ref": {"rps", "p99", "cpu_per_req"}} for every subject against every reference."""
    s = summary or res.summary()
    out = {}
    for sub in res.subjects:
        if sub not in s:
            continue
        for ref in res.refs():
            out[f"{sub}/{ref}"] = {"rps": ratio(s[sub]["rps"], s[ref]["rps"]),
                                   "p99": ratio(s[sub]["p99_us"], s[ref]["p99_us"]),
                                   "cpu_per_req": ratio(s[sub]["proxy_cpu_us_per_req"], s[ref]["proxy_cpu_us_per_req"])}
    return out


def vs_plain(res, plain, summary=None):
    """Each target's req/s as a share of its own `plain` req/s and the CPU per request added."""
    if res.name == "plain" or not plain:
        return {}
    s = summary or res.summary()
    return {t: {"rps": ratio(s[t]["rps"], plain[t]["rps"]),
                "cpu_us_per_req_delta": round(s[t]["proxy_cpu_us_per_req"] - plain[t]["proxy_cpu_us_per_req"], 1)}
            for t in res.targets if t in plain}


def table(res, load, plain=None):
    """The text table of one scenario, as run.sh printed it, with an `up/req` column (the
    upstream's CPU per request). load: threads, connections, duration, rounds, pin, upstream."""
    s = res.summary()
    refs = res.refs()
    tw = max([11] + [len(t) for t in res.targets])
    rw = {ref: max(len(ref) + 4, 11) for ref in refs}
    lines = ["", f"== scenario {res.name}: {res.description}",
             f"   wrk -t{load['threads']} -c{load['connections']} -d{load['duration']}s --latency"
             f"{' ' + res.load_desc if res.load_desc else ''}, median of {load['rounds']} rounds, "
             f"pin={load['pin']}, upstream={load['upstream']}"]
    head = (f"{'target':<{tw}} {'req/s':>9} {'p99':>9} {'p50':>9} {'spread':>7} {'cpu/req':>8} "
            f"{'up/req':>8} {'wrk':>5} {'conn/req':>8} {'other':>6}")
    for ref in refs:
        head += f" {'rps/' + ref:>{rw[ref]}} {'p99/' + ref:>{rw[ref]}}"
    lines.append(head + " errors")
    for t in res.targets:
        x = s[t]
        row = (f"{t:<{tw}} {x['rps']:9.0f} {fmt_us(x['p99_us']):>9} {fmt_us(x['p50_us']):>9} "
               f"{x['rps_spread_pct']:6.1f}% {x['proxy_cpu_us_per_req']:6.1f}us "
               f"{x['upstream_cpu_us_per_req']:6.1f}us {x['wrk_cpu_pct']:4d}% "
               f"{x['tcp_accepts_per_req']:8.2f} {x['max_other_cpu_pct']:5.1f}%")
        for ref in refs:
            row += (f" {fmt_ratio(ratio(x['rps'], s[ref]['rps'])):>{rw[ref]}}"
                    f" {fmt_ratio(ratio(x['p99_us'], s[ref]['p99_us'])):>{rw[ref]}}")
        lines.append(row + f" {x['errors']}" + ("" if x["errors"] == 0 else " (!)"))
    for sub in res.subjects:
        if sub not in s:
            continue
        sname = "Portcullis" if sub == "portcullis" else sub
        for ref in refs:
            a, b = s[sub], s[ref]
            line = (f"{sname}/{ref}: req/s {fmt_ratio(ratio(a['rps'], b['rps']))}x, "
                    f"p99 {fmt_ratio(ratio(a['p99_us'], b['p99_us']))}x, "
                    f"cpu/req {fmt_ratio(ratio(a['proxy_cpu_us_per_req'], b['proxy_cpu_us_per_req']))}x")
            if sub != "portcullis":
                line += f" ({a['proxy_cpu_us_per_req'] - b['proxy_cpu_us_per_req']:+.1f}us per request)"
            lines.append(line)
    sat = [t for t in res.targets if s[t]["wrk_cpu_pct"] >= 90]
    if sat:
        cap = ", ".join(f"{t} {1e6 / s[t]['proxy_cpu_us_per_req'] if s[t]['proxy_cpu_us_per_req'] > 0 else 0:.0f}/s"
                        for t in res.targets)
        lines.append(f"NOTE: wrk used >= 90% of its core against {' '.join(sat)}: req/s there is (also) the load generator's limit;")
        lines.append(f"      compare cpu/req instead. Per core of proxy CPU (1e6 / cpu/req): {cap}")
    if res.name != "plain" and plain:
        ctx = []
        for t in ("portcullis", "nginx", "haproxy"):
            if t not in plain:
                continue
            if t in s:
                ctx.append(f"{t} {fmt_ratio(ratio(s[t]['rps'], plain[t]['rps']))}x of its plain req/s, cpu/req "
                           f"{s[t]['proxy_cpu_us_per_req'] - plain[t]['proxy_cpu_us_per_req']:+.1f}us")
            else:
                ctx.append(f"{t} (not in this scenario) plain: {plain[t]['rps']:.0f} req/s, "
                           f"{plain[t]['proxy_cpu_us_per_req']:.1f}us/req")
        lines.append("vs plain (same run and placement): " + "; ".join(ctx))
    if res.note:
        lines.append(res.note)
    lines += ["(req/s ratio > 1: more requests served than the reference; p99 ratio < 1: shorter tail.",
              " spread = (max-min)/median of req/s over the rounds; cpu/req = CPU time of the proxy per request;",
              " up/req = the upstream's CPU per request; wrk = load generator's CPU, % of its core (~100: wrk is",
              " the limit); conn/req = TCP accepts per request;",
              " other = worst share of the machine used by processes outside the benchmark during a round)"]
    return "\n".join(lines)


def scenario_json(res, plain=None):
    s = res.summary()
    targets = {}
    for t in res.targets:
        rounds = [{"round": i + 1,
                   "proxy_cpu_us_per_req": r["proxy_cpu_us_per_req"],
                   "upstream_cpu_us_per_req": r["upstream_cpu_us_per_req"],
                   "wrk_cpu_pct": r["wrk_cpu_pct"],
                   "tcp_accepts_per_req": r["tcp_accepts_per_req"],
                   "other_cpu_pct": r["other_cpu_pct"],
                   "attempts": r.get("attempts", 1),
                   "wrk": r["wrk"]} for i, r in enumerate(res.rounds[t])]
        targets[t] = {"url": res.urls[t], **s[t], "rounds": rounds}
    out = {"status": "measured", "description": res.description, "load": res.load_desc,
           "targets": targets, "ratios": ratios(res, s), "vs_plain": vs_plain(res, plain, s)}
    out.update(res.extra)
    return out


def skipped_json(reason):
    return {"status": "skipped", "reason": reason}


def run_json(meta, placements):
    """The results file. meta: date, host, versions, load, upstream (and added: git, command).
    placements: [(pinning dict, {scenario: json})]. The top-level "pinning" and "scenarios" are the
    first placement's, as run.sh wrote them; "placements" (added) holds every placement."""
    first_pin, first_scen = placements[0]
    doc = {"date": meta["date"], "host": meta["host"], "versions": meta["versions"], "load": meta["load"],
           "pinning": first_pin, "upstream": meta["upstream"], "scenarios": first_scen}
    for k in ("git", "command"):
        if k in meta:
            doc[k] = meta[k]
    doc["placements"] = [{"pinning": p, "scenarios": sc} for p, sc in placements]
    return doc


def _ms(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def markdown(doc):
    """The README table: one row per placement, scenario and target, with CPU per request of the
    proxy and of the upstream and, on the subject rows, the ratios to each reference."""
    rows = ["| placement | scenario | target | req/s | p99 | cpu/req | upstream cpu/req | spread | wrk CPU | other | errors | ratios: req/s · p99 · cpu/req |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for pl in doc["placements"]:
        mode = pl["pinning"]["mode"]
        for scen, sj in pl["scenarios"].items():
            if sj.get("status") != "measured":
                rows.append(f"| {mode} | {scen} | (skipped: {sj.get('reason', '')}) | | | | | | | | | |")
                continue
            for t, x in sj["targets"].items():
                rat = "; ".join(f"÷ {k.split('/', 1)[1]} **{fmt_ratio(v['rps'])}** · {fmt_ratio(v['p99'])} · {fmt_ratio(v['cpu_per_req'])}"
                                for k, v in sj["ratios"].items() if k.split("/", 1)[0] == t)
                rows.append(f"| {mode} | {scen} | {t} | {x['rps']:,.0f} | {_ms(x['p99_us'])} | "
                            f"{x['proxy_cpu_us_per_req']:.1f} µs | {x['upstream_cpu_us_per_req']:.1f} µs | "
                            f"{x['rps_spread_pct']:.1f} % | {x['wrk_cpu_pct']} % | {x['max_other_cpu_pct']:.1f} % | "
                            f"{x['errors']} | {rat} |")
    return "\n".join(rows)
