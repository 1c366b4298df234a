"""Unit tests of the runner's pure parts: figures from ticks, medians and spread, ratios, the
text table, the JSON schema (run.sh's fields all present), the README section and its markers,
and the knobs. No process is started. Run: cd benchmarks && python3 -m unittest portcullis_bench.test_report"""

import tempfile
import unittest
from pathlib import Path

from . import measure, readme, report, scenarios, settings

# Every field run.sh wrote; the JSON may add fields, never drop or rename these.
TARGET_FIELDS = {"url", "rps", "p99_us", "p50_us", "rps_spread_pct", "proxy_cpu_us_per_req",
                 "upstream_cpu_us_per_req", "wrk_cpu_pct", "tcp_accepts_per_req", "max_other_cpu_pct",
                 "errors", "rounds"}
ROUND_FIELDS = {"round", "proxy_cpu_us_per_req", "upstream_cpu_us_per_req", "wrk_cpu_pct",
                "tcp_accepts_per_req", "other_cpu_pct", "attempts", "wrk"}
SCENARIO_FIELDS = {"status", "description", "load", "targets", "ratios", "vs_plain"}
TOP_FIELDS = {"date", "host", "versions", "load", "pinning", "upstream", "scenarios"}


def wrk(rps, p99=3000, p50=1500, status=0, requests=None):
    return {"requests": requests if requests is not None else int(rps * 10), "duration_us": 10_000_000,
            "bytes": 1, "rps": rps, "p50_us": p50, "p90_us": p50, "p99_us": p99, "p999_us": p99,
            "max_us": p99, "mean_us": 1.0, "stdev_us": 1.0,
            "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": status}}


def rnd(rps, cpu, ucpu=10.0, p99=3000, other=0.5, wrk_pct=30, status=0):
    return {"proxy_cpu_us_per_req": cpu, "upstream_cpu_us_per_req": ucpu, "wrk_cpu_pct": wrk_pct,
            "tcp_accepts_per_req": 0.0, "other_cpu_pct": other, "attempts": 1,
            "wrk": wrk(rps, p99=p99, status=status)}


def plain_result():
    return report.ScenarioResult(
        "plain", "plain HTTP/1.1", {t: f"http://127.0.0.1/{t}" for t in ("portcullis", "nginx", "haproxy")},
        {"portcullis": [rnd(20000, 27.0), rnd(21000, 26.0), rnd(19000, 30.0)],
         "nginx": [rnd(24000, 22.0, p99=2000), rnd(23000, 23.0, p99=2000), rnd(25000, 21.0, p99=2000)],
         "haproxy": [rnd(19000, 28.0), rnd(20000, 27.0), rnd(18000, 29.0, other=7.5, status=2)]})


class Figures(unittest.TestCase):
    def test_per_request_and_shares(self):
        # 100 ticks/s; 10 s; 100,000 requests; the proxy used 200 ticks = 2 s = 20 us/request
        f = measure.figures(wrk(10000, requests=100_000), proxy=200, upstream=100, busy=1000, runner=300,
                            opens=50, hz=100, ncpu=2)
        self.assertEqual(f["proxy_cpu_us_per_req"], 20.0)
        self.assertEqual(f["upstream_cpu_us_per_req"], 10.0)
        self.assertEqual(f["wrk_cpu_pct"], 30)                 # 3 s of CPU in 10 s
        self.assertEqual(f["tcp_accepts_per_req"], 0.0)
        self.assertEqual(f["other_cpu_pct"], 20.0)             # (1000-600) ticks = 4 s over 10 s x 2 CPUs

    def test_other_never_negative_and_no_requests(self):
        f = measure.figures(wrk(0, requests=0), proxy=5, upstream=5, busy=0, runner=0, opens=0, hz=100, ncpu=2)
        self.assertEqual(f["other_cpu_pct"], 0.0)
        self.assertEqual(f["proxy_cpu_us_per_req"], 0.0)


class Summaries(unittest.TestCase):
    def test_medians_spread_worst_other_errors(self):
        s = plain_result().summary()
        self.assertEqual(s["portcullis"]["rps"], 20000)
        self.assertEqual(s["portcullis"]["proxy_cpu_us_per_req"], 27.0)
        self.assertEqual(s["portcullis"]["rps_spread_pct"], 10.0)   # (21000-19000)/20000
        self.assertEqual(s["haproxy"]["max_other_cpu_pct"], 7.5)
        self.assertEqual(s["haproxy"]["errors"], 2)

    def test_even_rounds_average_the_middle(self):
        self.assertEqual(report.summarize([rnd(10, 1.0), rnd(20, 2.0)])["rps"], 15)

    def test_ratio(self):
        self.assertEqual(report.ratio(20000, 24000), 0.83)
        self.assertIsNone(report.ratio(1, 0))
        self.assertEqual(report.fmt_ratio(None), "null")
        self.assertEqual(report.fmt_us(2840), "2.84ms")
        self.assertEqual(report.fmt_us(950), "950us")

    def test_ratios_and_vs_plain(self):
        res = plain_result()
        r = report.ratios(res)
        self.assertEqual(set(r), {"portcullis/nginx", "portcullis/haproxy"})
        self.assertEqual(r["portcullis/nginx"], {"rps": 0.83, "p99": 1.5, "cpu_per_req": 1.23})
        tls = report.ScenarioResult("tls_keepalive", "TLS", {"portcullis": "u"},
                                    {"portcullis": [rnd(18000, 30.0)]})
        v = report.vs_plain(tls, res.summary())
        self.assertEqual(v, {"portcullis": {"rps": 0.9, "cpu_us_per_req_delta": 3.0}})
        self.assertEqual(report.vs_plain(res, res.summary()), {})


class Table(unittest.TestCase):
    LOAD = {"threads": 1, "connections": 64, "duration": 10, "rounds": 3, "pin": "wrk", "upstream": "stub"}

    def test_rows_columns_and_summary_lines(self):
        text = report.table(plain_result(), self.LOAD)
        lines = text.splitlines()
        self.assertIn("== scenario plain: plain HTTP/1.1", lines)
        self.assertIn("   wrk -t1 -c64 -d10s --latency, median of 3 rounds, pin=wrk, upstream=stub", lines)
        head = next(l for l in lines if l.startswith("target"))
        for col in ("req/s", "cpu/req", "up/req", "rps/nginx", "p99/haproxy", "errors"):
            self.assertIn(col, head)
        row = next(l for l in lines if l.startswith("portcullis "))
        self.assertIn("27.0us", row)
        self.assertIn("10.0us", row)       # the upstream's CPU per request
        self.assertIn("0.83", row)
        self.assertTrue(next(l for l in lines if l.startswith("haproxy ")).endswith("2 (!)"))
        self.assertIn("Portcullis/nginx: req/s 0.83x, p99 1.50x, cpu/req 1.23x", lines)

    def test_saturated_wrk_note_and_plain_context(self):
        res = report.ScenarioResult("jwt_cached", "JWT", {"portcullis": "u", "haproxy": "v"},
                                    {"portcullis": [rnd(15000, 30.0, wrk_pct=95)], "haproxy": [rnd(10000, 58.0)]},
                                    note="(nginx: no JWT)")
        text = report.table(res, self.LOAD, plain_result().summary())
        self.assertIn("NOTE: wrk used >= 90% of its core against portcullis", text)
        self.assertIn("nginx (not in this scenario) plain: 24000 req/s, 22.0us/req", text)
        self.assertIn("portcullis 0.75x of its plain req/s, cpu/req +3.0us", text)
        self.assertIn("(nginx: no JWT)", text)

    def test_route_subjects_show_the_cpu_difference(self):
        res = report.ScenarioResult("sigv4", "SigV4", {"plain-route": "u", "sigv4-route": "v"},
                                    {"plain-route": [rnd(33000, 20.0)], "sigv4-route": [rnd(27000, 24.1)]},
                                    compare_to=["plain-route"], subjects=["sigv4-route"])
        self.assertIn("sigv4-route/plain-route: req/s 0.82x, p99 1.00x, cpu/req 1.21x (+4.1us per request)",
                      report.table(res, self.LOAD))


class Json(unittest.TestCase):
    def doc(self):
        res = plain_result()
        sj = {"plain": report.scenario_json(res), "sigv4": report.skipped_json("no portcullis")}
        meta = {"date": "20261130T201500Z", "host": {"cpus": 2, "cpu_model": "AMD EPYC", "kernel": "6"},
                "versions": {"portcullis": "portcullis 0.1.0", "nginx": "nginx/1.22.1", "haproxy": "2.6.12",
                             "wrk": "4.1.0"},
                "load": {"tool": "wrk", "threads": 1, "connections": 64, "duration_s": 3, "warmup_s": 1,
                         "rounds": 1, "path": "/bench/hello"},
                "upstream": "stub", "git": {"commit": "abc1234", "dirty": False}, "command": "make bench"}
        pins = [({"mode": "wrk", "wrk": "1", "proxy": "0", "upstream": "0"}, sj),
                ({"mode": "none", "wrk": "", "proxy": "", "upstream": ""}, sj)]
        return report.run_json(meta, pins)

    def test_schema_keeps_every_field(self):
        doc = self.doc()
        self.assertLessEqual(TOP_FIELDS, set(doc))
        self.assertEqual(doc["pinning"]["mode"], "wrk")          # the first placement, as run.sh wrote it
        self.assertEqual([p["pinning"]["mode"] for p in doc["placements"]], ["wrk", "none"])
        plain = doc["scenarios"]["plain"]
        self.assertLessEqual(SCENARIO_FIELDS, set(plain))
        for t in plain["targets"].values():
            self.assertLessEqual(TARGET_FIELDS, set(t))
            self.assertEqual([r["round"] for r in t["rounds"]], [1, 2, 3])
            for r in t["rounds"]:
                self.assertLessEqual(ROUND_FIELDS, set(r))
        self.assertEqual(doc["scenarios"]["sigv4"], {"status": "skipped", "reason": "no portcullis"})

    def test_markdown_and_readme_section(self):
        doc = self.doc()
        md = report.markdown(doc)
        self.assertIn("| wrk | plain | portcullis | 20,000 | 3.00 ms | 27.0 µs | 10.0 µs |", md)
        self.assertIn("÷ nginx **0.83** · 1.50 · 1.23", md)
        self.assertIn("| none | sigv4 | (skipped: no portcullis)", md)
        sec = readme.section(doc, "benchmarks/results/x.json")
        self.assertIn("**Smoke run**", sec)                        # 3 s, 1 round: labelled, not a result
        self.assertIn("commit `abc1234`", sec)
        self.assertIn("AMD EPYC, 2 CPUs", sec)
        self.assertIn("`make bench`", sec)
        doc["load"].update(duration_s=10, rounds=3)
        self.assertNotIn("Smoke run", readme.section(doc))

    def test_readme_write_replaces_only_between_markers(self):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "README.md"
            p.write_text(f"# B\n\nbefore\n\n{readme.BEGIN}\nold\n{readme.END}\n\nafter\n")
            readme.write(p, "new table")
            self.assertEqual(p.read_text(), f"# B\n\nbefore\n\n{readme.BEGIN}\nnew table\n{readme.END}\n\nafter\n")
            q = Path(d) / "R2.md"
            q.write_text("# no markers\n")
            readme.write(q, "t")
            self.assertIn(f"{readme.HEADING}\n\n{readme.BEGIN}\nt\n{readme.END}", q.read_text())


class Knobs(unittest.TestCase):
    def test_env_then_flags(self):
        s = settings.parse([], {"DURATION": "3", "PIN": "wrk"})
        self.assertEqual((s.duration, s.pin, s.rounds, s.upstream), (3, "wrk", 3, "stub"))
        self.assertEqual(settings.parse([], {}).pin, "wrk none")
        s = settings.parse(["--duration", "5", "--port-nginx", "19000"], {"DURATION": "3"})
        self.assertEqual((s.duration, s.port_nginx), (5, 19000))
        self.assertIn("PORT_NGINX", s.explicit)
        self.assertNotIn("PORT_HAPROXY", s.explicit)

    def test_command_line(self):
        # The knobs come from the environment given (the suite may run under make, with
        # PORTCULLIS_BIN and others set), and make's own command line is left out.
        real, readme._make_ancestor = readme._make_ancestor, lambda: None
        try:
            s = settings.parse(["--pin", "wrk"], {"DURATION": "3"})
            self.assertEqual(readme.command_line(s, settings.HERE), "cd benchmarks && DURATION=3 python3 -m portcullis_bench --pin wrk")
            self.assertEqual(readme.command_line(s, settings.ROOT), "DURATION=3 python3 -m portcullis_bench --pin wrk")
        finally:
            readme._make_ancestor = real
        doc = Json().doc()
        doc["command"] = "SCENARIOS=all make bench, which ran: cd benchmarks && python3 -m portcullis_bench --readme README.md"
        self.assertIn("- **Command**: `SCENARIOS=all make bench` which ran `cd benchmarks && python3 -m portcullis_bench "
                      "--readme README.md`", readme.section(doc))

    def test_scenario_names(self):
        self.assertEqual(scenarios.resolve("plain tls jwt"), ["plain", "tls_keepalive", "jwt_cached"])
        self.assertEqual(scenarios.resolve("all"), scenarios.ALL)
        with self.assertRaises(ValueError):
            scenarios.resolve("plain nope")
        for name in scenarios.ALL:
            self.assertEqual(scenarios.module(name).NAME, name)


if __name__ == "__main__":
    unittest.main()
