"""plain: HTTP/1.1 keep-alive on both sides, GET /bench/hello; the proxying itself. Portcullis
(portcullis-bench.yaml), nginx (conf/nginx-plain.conf), HAProxy (conf/haproxy-plain.cfg) and,
when TARGETS names it, portcullis-base: BASE_BIN on the same config (before/after a change)."""

from ..plan import Plan
from ..procs import BenchError
from . import _proxies

NAME = "plain"


def plan(run):
    p = Plan(NAME, f"plain HTTP/1.1, keep-alive both sides, GET {run.s.bench_path}")
    conf = run.here / "conf"
    if run.want("portcullis"):
        _proxies.add(run, p, "portcullis", run.here / "portcullis-bench.yaml")
    if run.want("portcullis-base"):
        if not run.dry and not (run.base_bin and run.base_bin.is_file()):
            raise BenchError("TARGETS names portcullis-base: set BASE_BIN to the Portcullis binary to compare with")
        _proxies.add(run, p, "portcullis-base", run.here / "portcullis-bench.yaml", binary=run.base_bin)
    if run.want("nginx"):
        _proxies.add(run, p, "nginx", conf / "nginx-plain.conf")
    if run.want("haproxy"):
        _proxies.add(run, p, "haproxy", conf / "haproxy-plain.cfg")
    return p
