"""resource_policy: the same open route in three APIs of one process: /bench without a policy
(plain-route), /guard with the five statements of conf/resource-policy-bench.json (policy-route),
/allow with one unconditional Allow (allow1-route: what any policy phase costs). Anonymous caller
from 127.0.0.1 with a fixed User-Agent."""

from ..plan import Plan, Target
from ..procs import BenchError, log
from . import _routes

NAME = "resource_policy"
UA = "portcullis-bench/1.0 (wrk)"


def plan(run):
    path = run.s.bench_path
    rest = path[len("/bench"):] if path.startswith("/bench") else path
    p = Plan(NAME, "IAM resource policy (5 statements, anonymous caller) vs the same route of an API without one, "
                   f"one process, plain HTTP keep-alive, GET {rest}")
    base = _routes.server(run, p, run.here / "portcullis-policy.yaml", path,
                          {"BENCH_CONF_DIR": run.here / "conf"})
    if base is None:
        return p
    p.check_args = ["-A", UA]
    p.targets = [Target("plain-route", base + path, "portcullis", rest),
                 Target("policy-route", f"{base}/guard{rest}", "portcullis", rest),
                 Target("allow1-route", f"{base}/allow{rest}", "portcullis", rest)]
    p.subjects = ["policy-route", "allow1-route"]
    p.check = resource_policy_check
    p.wrk_extra = ["-H", f"User-Agent: {UA}"]
    p.load_desc = f'-H "User-Agent: {UA}"'
    p.note = ("(one Portcullis process, the same open route in three APIs measured in turn: /bench without resource "
              "policy, /guard with the 5 statements of conf/resource-policy-bench.json, /allow with one unconditional "
              "Allow; the caller is anonymous, 127.0.0.1)")
    p.extra["resource_policy"] = {"file": "benchmarks/conf/resource-policy-bench.json", "statements": 5,
                                  "allow1_route": "one unconditional Allow, inline in portcullis-policy.yaml"}
    return p


def resource_policy_check(run, p):
    """The guarded API refuses (403) what its Deny statements name and callers outside its
    networks (X-Forwarded-For from the trusted 127.0.0.1), and admits the load's request and a
    partner's GET; the API without policy and the allow-all one admit all of them."""
    base = next(t.url for t in p.targets if t.name == "policy-route").split("/guard/", 1)[0]
    xff = lambda ip: ["-H", f"X-Forwarded-For: {ip}"]
    run.checked = []
    e = run.expect_status
    ok = [e(200, "guarded: GET from 127.0.0.1", "-A", UA, f"{base}/guard/hello"),
          e(403, "guarded: User-Agent some-bad-bot (DenyBadBots)", "-A", "some-bad-bot/2.1", f"{base}/guard/hello"),
          e(403, "guarded: User-Agent sqlmap (DenyBadBots)", "-A", "sqlmap/1.7.2#stable", f"{base}/guard/hello"),
          e(403, "guarded: DELETE (DenyDeletes)", "-A", UA, "-X", "DELETE", f"{base}/guard/hello"),
          e(403, "guarded: from 203.0.113.7 (no Allow; DenyUnknownNetworks)", "-A", UA, *xff("203.0.113.7"), f"{base}/guard/hello"),
          e(200, "guarded: GET from partner 198.51.100.7 (AllowPartnerReadOnly)", "-A", UA, *xff("198.51.100.7"), f"{base}/guard/hello"),
          e(403, "guarded: PUT from partner 198.51.100.7 (GET only)", "-A", UA, "-X", "PUT", *xff("198.51.100.7"), f"{base}/guard/hello"),
          e(200, "plain: User-Agent some-bad-bot", "-A", "some-bad-bot/2.1", f"{base}/bench/hello"),
          e(200, "plain: DELETE from 203.0.113.7", "-X", "DELETE", *xff("203.0.113.7"), f"{base}/bench/hello"),
          e(200, "allow-all: DELETE from 203.0.113.7 by some-bad-bot", "-A", "some-bad-bot/2.1", "-X", "DELETE",
            *xff("203.0.113.7"), f"{base}/allow/hello")]
    log("resource policy check: " + "; ".join(run.checked))
    if not all(ok):
        raise BenchError("the resource policy does not decide as written; refusing to benchmark it")
    log("resource policy check passed: each statement decides as written; the API without policy admits everything")
