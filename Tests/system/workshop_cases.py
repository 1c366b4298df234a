#!/usr/bin/env python3
"""The workshop's cases, read from docs/WORKSHOP.md: one source for the page, the test and `make demo`.

The page's fenced blocks carry a tag after the language (```sh workshop-start):

  workshop-start   how to run one part alone; its `portcullis run --config FILE` names the part's
                   config. Every block after it, up to the next start block, is of that part.
  workshop-setup   shell assignments (tokens, keys), run in page order as a reader would.
  workshop-case    a first comment line is the title; then the commands, run as written; the last
                   line, `# => STATUS [BODY]`, is what the last request must get. BODY is exact,
                   or with a leading and/or trailing `...` a prefix, suffix or substring.

Subcommands:
  extract DOC OUTDIR   writes OUTDIR/parts.tsv (part, config), setup-K.sh,
                       cases.tsv (n, part, setups before it, status, line, title), case-N.sh,
                       case-N.body, case-N.json
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

FENCE = re.compile(r"^```sh (workshop-start|workshop-setup|workshop-case)\s*$")
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
        yield m.group(1), start, "\n".join(body) + "\n"
        i += 1


def read(path):
    """The page as parts, setups and cases."""
    parts, setups, cases = [], [], []
    part = None
    for tag, line, text in blocks(path):
        where = f"{path}:{line}"
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
                          "title": title, "script": "\n".join(lines[:-1]) + "\n"})
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
            f.write(f"{c['n']}\t{c['part']}\t{c['setups']}\t{c['status']}\t{c['line']}\t{c['title']}\n")
            with open(os.path.join(out, f"case-{c['n']}.sh"), "w") as s:
                s.write(c["script"])
            with open(os.path.join(out, f"case-{c['n']}.body"), "w") as b:
                b.write(c["body"])
            with open(os.path.join(out, f"case-{c['n']}.json"), "w") as j:
                json.dump({k: c[k] for k in ("n", "part", "config", "line", "status", "body", "title")}, j)


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


def record(args):
    """A case's last request as data: what `portcullis explain` can be run on and compared."""
    case = json.load(open(args.case))
    argv = open(args.request, "rb").read().decode().split("\0")[:-1] if os.path.exists(args.request) else []
    method, url, headers, data = parse_curl(argv)
    ports = dict(p.split("=", 1) for p in args.port)  # test port -> documented port
    listener = None
    if url:
        m = re.match(r"^(https?://[^/:]+):(\d+)(.*)$", url)
        if m:
            listener = dict(l.split("=", 1) for l in args.listener).get(m.group(2))
            url = f"{m.group(1)}:{ports.get(m.group(2), m.group(2))}{m.group(3)}"
    print(json.dumps({
        "part": case["part"], "case": case["n"], "title": case["title"], "doc_line": case["line"],
        "config": args.config, "listener": listener, "method": method, "url": url, "headers": headers,
        "body": data, "client_ip": "127.0.0.1", "expect_status": case["status"], "got_status": args.got,
    }))


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
    r.add_argument("case")
    r.add_argument("request")
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
