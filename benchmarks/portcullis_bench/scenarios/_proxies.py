"""The three proxies side by side (plain, TLS, JWT scenarios): one Server and one Target each,
for the proxies TARGETS names."""

from ..plan import Server, Target

# target -> (process kind, PORT_* knob)
KINDS = {"portcullis": ("portcullis", "PORT_PORTCULLIS"), "portcullis-base": ("portcullis", "PORT_BASE"),
         "nginx": ("nginx", "PORT_NGINX"), "haproxy": ("haproxy", "PORT_HAPROXY")}


def add(run, plan, target, template, scheme="http", variables=None, binary=None):
    kind, knob = KINDS[target]
    port = run.port(knob)
    url = f"{scheme}://127.0.0.1:{port}{run.s.bench_path}"
    plan.servers.append(Server(target, kind, template, port, url, binary=binary, vars=dict(variables or {})))
    plan.targets.append(Target(target, url, target))
