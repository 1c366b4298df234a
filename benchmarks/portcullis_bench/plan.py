"""What a scenario asks the runner for: the servers to start, the targets to load, how the load
differs from plain wrk, what to check before measuring, and how to read the result. A scenario
module builds one Plan per placement (`plan(run)`); the runner carries it out."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional


@dataclass
class Server:
    name: str                      # process name, log file WORK/<placement>/NAME.log
    kind: str                      # portcullis | nginx | haproxy
    template: Path                 # config template with ${BENCH_*} placeholders
    port: int
    ready_url: str                 # answers 200 once the server is up
    binary: Optional[Path] = None  # portcullis: the binary (BASE_BIN for portcullis-base)
    vars: dict = field(default_factory=dict)   # more ${BENCH_*} values (TLS, JWT paths...)


@dataclass
class Target:
    name: str
    url: str
    process: str                   # the server whose CPU is counted (routes share one process)
    upath: str = "/hello"          # the path the upstream must see in the smoke check


@dataclass
class Plan:
    name: str
    description: str
    servers: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    wrk_extra: list = field(default_factory=list)
    wrk_script: Optional[Path] = None           # default wrk/report.lua
    wrk_env: dict = field(default_factory=dict)
    check_args: list = field(default_factory=list)   # extra curl arguments (readiness, smoke check)
    smoke_proto: str = "http"                   # the X-Forwarded-Proto the upstream must see
    check: Optional[Callable] = None            # check(run, plan) after the smoke check; raises BenchError
    load_desc: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)   # more members of the scenario's JSON object
    compare_to: list = field(default_factory=lambda: ["nginx", "haproxy"])
    subjects: list = field(default_factory=lambda: ["portcullis"])
    skip: Optional[str] = None                  # a reason: the scenario is reported as skipped
