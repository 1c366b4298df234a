"""The processes of a run: the upstream, the proxies (Portcullis, nginx, HAProxy), each started in
a session of its own (its pid is its process group, so stopping it stops its children too: nginx
master and worker) under the placement's `taskset`, its output in WORK/NAME.log. `Processes.close`
stops them all (SIGTERM, SIGKILL after STOP_TIMEOUT s); the runner calls it on every exit, Ctrl-C
included."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass


class BenchError(Exception):
    """Something could not be set up; the message says what. Exit status 1."""


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Placement:
    """Where wrk, the proxy and the upstream run: taskset -c lists, "" for anywhere."""
    mode: str
    wrk: str = ""
    proxy: str = ""
    upstream: str = ""

    def prefix(self, role):
        cpus = getattr(self, role)
        return ["taskset", "-c", cpus] if cpus else []

    def json(self):
        return {"mode": self.mode, "wrk": self.wrk, "proxy": self.proxy, "upstream": self.upstream}


# PIN=wrk: wrk alone on CPU 1, proxy and upstream share CPU 0 (the system under test saturates its
# core, wrk never steals its cycles). PIN=proxy: the proxy alone on CPU 0, wrk and upstream on 1.
# PIN=none: the scheduler decides. CPU_WRK / CPU_PROXY / CPU_UPSTREAM override the pinned ones.
_DEFAULT_CPUS = {"wrk": ("1", "0", "0"), "proxy": ("1", "0", "1")}


def placement(mode, settings, ncpu):
    if mode == "none":
        return Placement("none")
    if ncpu < 2:
        log(f"only {ncpu} CPU: PIN={mode} runs unpinned")
        return Placement("none")
    w, p, u = _DEFAULT_CPUS[mode]
    return Placement(mode, settings.cpu_wrk or w, settings.cpu_proxy or p, settings.cpu_upstream or u)


def port_free(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


def resolve_port(settings, knob, check=True):
    """The port of knob PORT_*: a port the user set must be free; a default one taken moves on
    by +100 (at most 20 times)."""
    port = getattr(settings, knob.lower())
    if not check:
        return port
    for _ in range(21):
        if port_free(port):
            setattr(settings, knob.lower(), port)
            return port
        if knob in settings.explicit:
            break
        log(f"port {port} is taken; trying {port + 100} for {knob}")
        port += 100
    _, holder = run_quiet(["ss", "-ltnp", f"sport = :{port}"], timeout=5)
    raise BenchError(f"port {port} is already in use on 127.0.0.1 (set {knob}=...)\n" +
                     "\n".join("    " + l for l in holder.splitlines()))


TOOLS = [("wrk", "wrk"), ("nginx", "nginx-light"), ("haproxy", "haproxy"), ("curl", "curl"),
         ("taskset", "util-linux"), ("timeout", "coreutils"), ("openssl", "openssl")]


def ensure_tools():
    """Install what is missing (as root, or through sudo). RUNLEVEL=1: Debian's invoke-rc.d then
    does not start the packaged nginx/haproxy services (never the system nginx on port 80)."""
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = sorted({pkg for cmd, pkg in TOOLS if not shutil.which(cmd)})
    if not missing:
        return
    log("installing: " + " ".join(missing))
    sudo = [] if os.getuid() == 0 else ["sudo"]
    env = ["env", "DEBIAN_FRONTEND=noninteractive"]
    subprocess.run(sudo + env + ["apt-get", "update", "-qq"], check=True)
    subprocess.run(sudo + env + ["RUNLEVEL=1", "apt-get", "install", "-y", "-qq"] + missing,
                   check=True, stdout=subprocess.DEVNULL)


def render(template, dest, variables):
    """Replace ${NAME} for the given variables only; any ${BENCH_*} left is an error."""
    import re
    text = template.read_text()
    for name, value in variables.items():
        text = text.replace("${" + name + "}", str(value))
    left = re.search(r"\$\{BENCH_[A-Z_]+\}", text)
    if left:
        raise BenchError(f"{template}: unresolved placeholder {left.group(0)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text if text.endswith("\n") else text + "\n")
    return dest


def server_files(kind, template, d, variables, binary=None):
    """Render a server's config into directory d. Returns (argv that runs it, argv that checks its
    config, config path). nginx gets its own prefix, pid, error log and temp paths in d: it never
    reads /etc/nginx or listens on port 80."""
    if kind == "nginx":
        (d / "tmp").mkdir(parents=True, exist_ok=True)
        conf = render(template, d / "nginx.conf", variables)
        where = ["-p", d, "-e", d / "error.log", "-c", conf]
        return ["nginx", *where], ["nginx", "-t", "-q", *where], conf
    if kind == "haproxy":
        conf = render(template, d / "haproxy.cfg", variables)
        return ["haproxy", "-db", "-f", conf], ["haproxy", "-c", "-q", "-f", conf], conf
    if kind == "portcullis":
        conf = render(template, d / "portcullis.yaml", variables)
        return [binary, "run", "--config", conf], [binary, "check", "--config", conf], conf
    raise ValueError(kind)


def check_config(name, check_argv):
    """The server's own config check (nginx -t, haproxy -c, portcullis check) before it starts."""
    rc, out = run_quiet(check_argv)
    if rc != 0:
        raise BenchError(f"{name}: {' '.join(map(str, check_argv))} failed:\n" +
                         "\n".join("    " + l for l in out.splitlines()))


def http_status(url, *curl_args, timeout=5):
    """The HTTP status of one request through curl ("000" when nothing answered)."""
    _, out = run_quiet(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(timeout),
                        *curl_args, url], timeout=timeout + 5)
    return out.strip()[-3:] or "000"


class Processes:
    def __init__(self, work, stop_timeout):
        self.work = work
        self.stop_timeout = stop_timeout
        self._procs = {}          # name -> Popen, in start order

    def start(self, name, role, argv, where):
        logf = open(self.work / f"{name}.log", "wb")
        try:
            p = subprocess.Popen(where.prefix(role) + [str(a) for a in argv], stdout=logf,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        finally:
            logf.close()
        self._procs[name] = p
        return p

    def pid(self, name):
        return self._procs[name].pid

    def running(self, name):
        return name in self._procs and self._procs[name].poll() is None

    def wait_ready(self, name, url, curl_args=(), start_timeout=20):
        """Until url answers 200, the process exits, or start_timeout s."""
        code = "none"
        for _ in range(start_timeout * 10):
            if not self.running(name):
                raise BenchError(f"{name} exited during start-up; its output:\n{self.output(name, 40)}")
            code = http_status(url, *curl_args, timeout=1)
            if code == "200":
                return
            time.sleep(0.1)
        raise BenchError(f"{name}: no 200 from {url} within {start_timeout}s (last status: {code}); "
                         f"its output:\n{self.output(name, 40)}")

    def output(self, name, lines=20):
        try:
            text = (self.work / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            return "    (no output)"
        return "\n".join("    " + l for l in text[-lines:])

    def stop(self, name):
        p = self._procs.pop(name, None)
        if p is None:
            return
        pgid = p.pid
        _killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline:
            p.poll()
            if not _group_alive(pgid):
                break
            time.sleep(0.1)
        else:
            log(f"{name} did not stop within {self.stop_timeout}s: SIGKILL")
            _killpg(pgid, signal.SIGKILL)
        try:
            p.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        for name in reversed(list(self._procs)):
            self.stop(name)


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def run_quiet(argv, timeout=60, env=None, stdin=None):
    """A short helper command (curl, openssl, portcullis sign): (returncode, stdout+stderr text)."""
    try:
        r = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           input=stdin, timeout=timeout, env=env, text=True)
    except subprocess.TimeoutExpired as e:
        return 124, (e.stdout or "") if isinstance(e.stdout, str) else ""
    except FileNotFoundError as e:
        return 127, str(e)
    return r.returncode, r.stdout
