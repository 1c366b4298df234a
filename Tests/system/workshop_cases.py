#!/usr/bin/env python3
"""The workshop's cases, read from docs/WORKSHOP.md: one source for the page, the test and `make demo`.

The page's fenced blocks carry a tag after the language (```sh workshop-start):

  workshop-start   how to run one part alone; its `portcullis run --config FILE` names the part's
                   config. Every block after it, up to the next start block, is of that part.
  workshop-setup   shell assignments (tokens, keys), run in page order as a reader would.
  workshop-case    a first comment line is the title; then the commands, run as written; the last
                   line, `# => STATUS [BODY]`, is what the last request must get. BODY is exact,
                   or with a leading and/or trailing `...` a prefix, suffix or substring.
                   Tags may follow (```sh workshop-case state): see CASE_TAGS.

Subcommands:
  extract DOC OUTDIR   writes OUTDIR/parts.tsv (part, config), setup-K.sh,
                       cases.tsv (n, part, setups before it, status, line, tags or -, title),
                       case-N.sh, case-N.body, case-N.json
  explain-args ...     `portcullis explain` arguments for the request a case sent (NUL-separated)
  agree ...            does explain's answer agree with the server's? (see `agree --help`)
  wait-quota ...       wait until the quota store holds a spent quota (see `wait-quota --help`)
  print DOC            the cases as a reader types them (what `make demo` prints)
  env DOC              a bash program that runs the setup blocks and prints their variables and
                       functions as a file to source (`make demo` writes .build/demo.env with it)
  record ...           one case's request as a JSON line (see `record --help`)
  listeners CONFIG     "PORT NAME" of each listener of a config
  match EXPECTED GOT   exit 0 when the body in file GOT matches the pattern in file EXPECTED
"""
import argparse
import json
import os
import re
import sys

FENCE = re.compile(r"^```sh (workshop-start|workshop-setup|workshop-case)((?: [\w-]+)*)\s*$")
# A case's tags, after `workshop-case` (```sh workshop-case state):
CASE_TAGS = {
    # The answer depends on what earlier requests did to the running server (a bucket emptied, a
    # quota spent): `portcullis explain` sees buckets as a fresh process does, so its status is
    # not compared; it must admit the request and pass the phase that counts.
    "state",
}
EXPECT = re.compile(r"^# => (\d{3})(?: (.*))?$")
RUN_CONFIG = re.compile(r"portcullis run --config (\S+)")
# `name: N, listen: "H:P"` in flow or block style (the examples write one of the two).
LISTENER = re.compile(r"name:\s*([\w.-]+)[\s,]+listen:\s*\"?[\w.]+:(\d+)")


class PageError(Exception):
    pass


def blocks(path):
    """(tag, first line number, text) of every tagged block, in page order."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i + 1
        i += 1
        body = []
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise PageError(f"{path}:{start}: block not closed")
        yield m.group(1), m.group(2).split(), start, "\n".join(body) + "\n"
        i += 1


def read(path):
    """The page as parts, setups and cases."""
    parts, setups, cases = [], [], []
    part = None
    for tag, tags, line, text in blocks(path):
        where = f"{path}:{line}"
        unknown = [t for t in tags if tag != "workshop-case" or t not in CASE_TAGS]
        if unknown:
            raise PageError(f"{where}: unknown tag {' '.join(unknown)} (a case may have: {' '.join(sorted(CASE_TAGS))})")
        if tag == "workshop-start":
            m = RUN_CONFIG.search(text)
            if not m:
                raise PageError(f"{where}: a workshop-start block needs `portcullis run --config FILE`")
            config = m.group(1)
            part = {"id": os.path.splitext(os.path.basename(config))[0], "config": config, "line": line}
            if any(p["id"] == part["id"] for p in parts):
                raise PageError(f"{where}: {config} has a start block already")
            parts.append(part)
        elif tag == "workshop-setup":
            setups.append(text)
        else:
            if part is None:
                raise PageError(f"{where}: a case before any workshop-start block")
            lines = text.rstrip("\n").split("\n")
            m = EXPECT.match(lines[-1])
            if not m:
                raise PageError(f"{where}: the last line of a case is `# => STATUS [BODY]`")
            title = lines[0][2:].strip() if lines[0].startswith("# ") and len(lines) > 2 else ""
            cases.append({"n": len(cases) + 1, "part": part["id"], "config": part["config"], "line": line,
                          "setups": len(setups), "status": int(m.group(1)), "body": m.group(2) or "",
                          "title": title, "tags": tags, "script": "\n".join(lines[:-1]) + "\n"})
    if not cases:
        raise PageError(f"{path}: no workshop-case blocks")
    return parts, setups, cases


def body_matches(expected, got):
    """Exact, or `...` at either end standing for anything."""
    if expected == "":
        return True
    head, tail = expected.startswith("..."), expected.endswith("...") and len(expected) > 3
    core = expected[3 if head else 0:len(expected) - (3 if tail else 0)]
    if head and tail:
        return core in got
    if head:
        return got.endswith(core)
    if tail:
        return got.startswith(core)
    return got == expected


def extract(args):
    parts, setups, cases = read(args.doc)
    out = args.outdir
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "parts.tsv"), "w") as f:
        for p in parts:
            f.write(f"{p['id']}\t{p['config']}\n")
    for k, text in enumerate(setups, 1):
        with open(os.path.join(out, f"setup-{k}.sh"), "w") as f:
            f.write(text)
    with open(os.path.join(out, "cases.tsv"), "w") as f:
        for c in cases:
            tags = ",".join(c["tags"]) or "-"
            f.write(f"{c['n']}\t{c['part']}\t{c['setups']}\t{c['status']}\t{c['line']}\t{tags}\t{c['title']}\n")
            with open(os.path.join(out, f"case-{c['n']}.sh"), "w") as s:
                s.write(c["script"])
            with open(os.path.join(out, f"case-{c['n']}.body"), "w") as b:
                b.write(c["body"])
            with open(os.path.join(out, f"case-{c['n']}.json"), "w") as j:
                json.dump({k: c[k] for k in ("n", "part", "config", "line", "status", "body", "title", "tags")}, j)


def print_cases(args):
    parts, setups, cases = read(args.doc)
    current = None
    for c in cases:
        if c["part"] != current:
            current = c["part"]
            print(f"\n# --- {c['config']}")
        for line in c["script"].rstrip("\n").split("\n"):
            print(line)
        print(f"# => {c['status']} {c['body']}".rstrip())


def env_program(args):
    _, setups, _ = read(args.doc)
    print('declare -A _seen=(); for _v in $(compgen -v); do _seen[$_v]=1; done')
    for text in setups:
        print(text)
    print('declare -f; for _v in $(compgen -v); do [ -n "${_seen[$_v]:-}" ] || [ "$_v" = _v ] || declare -p "$_v"; done')


def parse_curl(argv):
    """Method, URL, headers and body of a curl command line as the workshop writes them."""
    method, url, headers, data = None, None, [], None
    it = iter(argv)
    for a in it:
        if a in ("-X", "--request"):
            method = next(it, None)
        elif a in ("-H", "--header"):
            headers.append(next(it, ""))
        elif a in ("-b", "--cookie"):
            headers.append("Cookie: " + next(it, ""))
        elif a in ("-d", "--data", "--data-binary", "--data-raw"):
            data = next(it, "")
        elif a.startswith("-"):
            continue
        else:
            url = a
    return (method or ("POST" if data is not None else "GET")), url, headers, data


def sent_request(path):
    """The arguments of the last curl a case ran (NUL-separated, as the test's curl keeps them)."""
    return open(path, "rb").read().decode().split("\0")[:-1] if os.path.exists(path) else []


def explain_args(args):
    """`portcullis explain` arguments for the request a case sent: the listener its port belongs
    to, the headers exactly as sent (signatures, tokens, cookies), the body, the method and the
    URL as sent (the test's ports: the Host header SigV4 signed is the one explain builds)."""
    method, url, headers, data = parse_curl(sent_request(args.request))
    out = []
    m = re.match(r"^https?://[^/:]+:(\d+)", url or "")
    listener = dict(l.split("=", 1) for l in args.listener).get(m.group(1)) if m else None
    if listener:
        out += ["--listener", listener]
    for h in headers:
        out += ["-H", h]
    if data is not None:
        out += ["--data", data]
    out += [method, url or ""]
    sys.stdout.write("".join(a + "\0" for a in out))


def server_answer(head_path, body_path):
    """The status, the x-amzn-ErrorType (None when the server sent none: it admitted the request
    and the upstream answered) and the body of the server's answer."""
    status, error_type = 0, None
    if os.path.exists(head_path):
        lines = open(head_path, encoding="utf-8", errors="replace").read().splitlines()
        # The last head (after a 100 Continue) is the answer.
        for line in lines:
            if line.startswith("HTTP/"):
                status, error_type = int(line.split()[1]), None
            elif line.lower().startswith("x-amzn-errortype:"):
                error_type = line.split(":", 1)[1].strip()
    body = open(body_path, encoding="utf-8", errors="replace").read() if os.path.exists(body_path) else ""
    return status, error_type, body


def explain_answer(e):
    """Explain's answer in the words the comparison prints."""
    if e.get("verdict") == "admitted":
        target = (e.get("upstream", {}).get("request") or ["? ?"])[0].split(" ")[1]
        return f"admitted, upstream {e['upstream'].get('name')} {target}"
    if e.get("verdict") == "refused":
        a = e.get("answer", {})
        return f"refused {a.get('status')} {a.get('gateway_response')} ({a.get('error_type')}) {a.get('body')}"
    return f"{e.get('verdict')} (would call {e.get('would_call')})"


def agree(args):
    """Prints how explain's answer compares with the server's; exit 0 when they agree."""
    status, error_type, body = server_answer(args.head, args.body)
    server = f"refused {status} ({error_type}) {body[:300]}" if error_type else f"admitted, the upstream answered {status}"
    try:
        e = json.load(open(args.explain))
    except (OSError, ValueError):
        print(f"explain exited {args.exit} without an answer; the server: {server}")
        sys.exit(1)
    said = explain_answer(e)
    problems = []
    expected_exit = {"admitted": 0, "refused": 1}.get(e.get("verdict"), 3)
    if args.exit != expected_exit:
        problems.append(f"explain exited {args.exit} for {e.get('verdict')}")
    if args.state:
        # The server's refusal came from state this process does not see; a fresh process admits,
        # and the phase that counts passes.
        counting = [p for p in e.get("phases", []) if p["phase"] in ("throttle", "quota")]
        if e.get("verdict") != "admitted":
            problems.append("a fresh process should admit it")
        if not counting or any(p["decision"] != "pass" for p in counting):
            problems.append("its throttle and quota phases should pass when fresh")
        detail = "; ".join(f"{p['phase']}: {p['detail']}" for p in counting)
        print(("explain, fresh: " + said + (f" ({detail})" if detail else "")) if not problems else
              f"explain: {said}: " + ", ".join(problems) + f"; the server: {server}")
        sys.exit(1 if problems else 0)
    if error_type is None:
        if e.get("verdict") != "admitted":
            problems.append("the server admitted it")
        else:
            # The echo upstream says what it received: the path the gateway sent and the headers
            # it added from the caller's identity.
            try:
                echoed = json.loads(body)
            except ValueError:
                echoed = {}
            target = e["upstream"]["request"][0].split(" ")[1].split("?")[0]
            if echoed.get("path") not in (None, target):
                problems.append(f"the upstream got path {echoed.get('path')}, explain says {target}")
            for h in e["upstream"].get("added_headers", []):
                name, _, value = h.partition(":")
                if name.lower().startswith("x-user-") and echoed.get("headers", {}).get(name.lower()) != value.strip():
                    problems.append(f"the upstream got {name}: {echoed.get('headers', {}).get(name.lower())}, explain adds {value.strip()}")
    else:
        a = e.get("answer", {})
        if e.get("verdict") != "refused":
            problems.append("the server refused it")
        else:
            if a.get("status") != status:
                problems.append(f"status {a.get('status')}, the server {status}")
            if a.get("error_type") != error_type:
                problems.append(f"x-amzn-ErrorType {a.get('error_type')}, the server {error_type}")
            if a.get("body") != body:
                problems.append(f"body {a.get('body')}, the server {body[:300]}")
    print(f"explain agrees: {said}" if not problems else f"explain: {said}; the server: {server}; " + ", ".join(problems))
    sys.exit(1 if problems else 0)


def wait_quota(args):
    """Waits until the quota store under STATE_DIR holds the quota explain's api key phase names
    as spent today (the server writes its counts once a second); exit 1 after the timeout."""
    import sqlite3
    import time

    e = json.load(open(args.explain))
    details = {p["phase"]: p["detail"] for p in e.get("phases", [])}
    plan = re.search(r"usage plan (\S+) of", details.get("api key", ""))
    quota = re.search(r"key (\S+) used \d+ of (\d+) per", details.get("quota", ""))
    if not plan or not quota:
        print(f"explain names no usage plan and quota: {details}")
        sys.exit(1)
    counter, limit = f"quota:{plan.group(1)}:key:{quota.group(1)}", int(quota.group(2))
    today = int(time.time()) // 86400 * 86400
    path = os.path.join(args.state_dir, "quota.sqlite")
    deadline = time.monotonic() + args.timeout
    used = 0
    while time.monotonic() < deadline:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
            try:
                used = db.execute("SELECT COALESCE(SUM(used), 0) FROM usage WHERE counter = ? AND day >= ?",
                                  (counter, today)).fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error:
            used = 0
        if used >= limit:
            print(f"the store holds {counter} used {used} of {limit}")
            return
        time.sleep(0.05)
    print(f"the store holds {counter} used {used} of {limit} after {args.timeout}s")
    sys.exit(1)


def record(args):
    """A case's last request as data: what `portcullis explain` can be run on and compared."""
    case = json.load(open(args.case))
    method, url, headers, data = parse_curl(sent_request(args.request))
    ports = dict(p.split("=", 1) for p in args.port)  # test port -> documented port
    listener = None
    if url:
        m = re.match(r"^(https?://[^/:]+):(\d+)(.*)$", url)
        if m:
            listener = dict(l.split("=", 1) for l in args.listener).get(m.group(2))
            url = f"{m.group(1)}:{ports.get(m.group(2), m.group(2))}{m.group(3)}"
    out = {
        "part": case["part"], "case": case["n"], "title": case["title"], "doc_line": case["line"],
        "config": args.config, "listener": listener, "method": method, "url": url, "headers": headers,
        "body": data, "client_ip": "127.0.0.1", "expect_status": case["status"], "got_status": args.got,
        "tags": case.get("tags", []),
    }
    if args.explain:
        try:
            e = json.load(open(args.explain))
            out["explain"] = {"verdict": e.get("verdict"), "status": e.get("answer", {}).get("status"),
                              "gateway_response": e.get("answer", {}).get("gateway_response")}
        except (OSError, ValueError):
            out["explain"] = None
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("doc")
    e.add_argument("outdir")
    pr = sub.add_parser("print")
    pr.add_argument("doc")
    en = sub.add_parser("env")
    en.add_argument("doc")
    r = sub.add_parser("record", help="CASE.json REQUEST.args: the request a case sent, as JSON")
    r.add_argument("--config", required=True, help="the config the request went to")
    r.add_argument("--listener", action="append", default=[], help="PORT=NAME of each listener (test ports)")
    r.add_argument("--port", action="append", default=[], help="TESTPORT=DOCPORT, to write the URL as documented")
    r.add_argument("--got", type=int, default=0, help="the status the gateway answered")
    r.add_argument("--explain", help="explain's JSON answer for the same request, summarised in the record")
    r.add_argument("case")
    r.add_argument("request")
    ea = sub.add_parser("explain-args", help="REQUEST.args: explain's arguments for it, NUL-separated")
    ea.add_argument("--listener", action="append", default=[], help="PORT=NAME of each listener (test ports)")
    ea.add_argument("--port", action="append", default=[], help="ignored (record's TESTPORT=DOCPORT)")
    ea.add_argument("request")
    ag = sub.add_parser("agree", help="EXPLAIN.json HEAD BODY: exit 0 when explain's answer is the server's")
    ag.add_argument("--exit", type=int, required=True, help="explain's exit status")
    ag.add_argument("--state", action="store_true", help="a `state` case: explain must admit it, as a fresh process")
    ag.add_argument("explain")
    ag.add_argument("head")
    ag.add_argument("body")
    wq = sub.add_parser("wait-quota", help="EXPLAIN.json STATE_DIR: wait until the store holds that quota spent")
    wq.add_argument("--timeout", type=float, default=10)
    wq.add_argument("explain")
    wq.add_argument("state_dir")
    ls = sub.add_parser("listeners")
    ls.add_argument("config")
    m = sub.add_parser("match", help="exit 0 when the body in file GOT matches the pattern in file EXPECTED")
    m.add_argument("expected")
    m.add_argument("got")
    args = p.parse_args()
    try:
        if args.cmd == "extract":
            extract(args)
        elif args.cmd == "print":
            print_cases(args)
        elif args.cmd == "env":
            env_program(args)
        elif args.cmd == "record":
            record(args)
        elif args.cmd == "explain-args":
            explain_args(args)
        elif args.cmd == "agree":
            agree(args)
        elif args.cmd == "wait-quota":
            wait_quota(args)
        elif args.cmd == "listeners":
            text = open(args.config, encoding="utf-8").read()
            for name, port in LISTENER.findall(text):
                print(port, name)
        else:
            expected = open(args.expected, encoding="utf-8").read()
            got = open(args.got, encoding="utf-8", errors="replace").read() if os.path.exists(args.got) else ""
            sys.exit(0 if body_matches(expected, got) else 1)
    except PageError as err:
        print(f"workshop_cases: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
