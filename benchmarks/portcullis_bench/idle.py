"""Idle keep-alive connections: open N connections to a proxy, send one GET on each, read its
whole answer, then hold the connection open without sending anything. This is what a fleet of
clients with pooled connections looks like to a proxy between requests: the memory each one keeps
is the proxy's per-connection cost at rest.

Used by the memory step (`memory.py`); runnable alone for a look by hand:
    python3 -m portcullis_bench.idle http://127.0.0.1:8080/bench/hello 10000
It prints the count once every connection has had its answer, then waits for stdin to close."""

import asyncio
import sys
from urllib.parse import urlsplit


class _Progress:
    def __init__(self, count, concurrency):
        self.left = count
        self.gate = asyncio.Semaphore(concurrency)   # requests in flight
        self.all_answered = asyncio.Event()
        self.failures = []

    def answered(self, failure=None):
        if failure:
            self.failures.append(failure)
        self.gate.release()
        self.left -= 1
        if self.left == 0:
            self.all_answered.set()


async def _one(host, port, request, progress, hold):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as e:
        progress.answered(f"connect: {e}")
        return
    failure = None
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await reader.readexactly(length)
        if status != b"200":
            failure = f"status {status.decode()}"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as e:
        failure = f"request: {e!r}"
    progress.answered(failure)
    await hold.wait()
    writer.close()


async def hold_connections(url, count, hold, concurrency=200):
    """Opens `count` connections, at most `concurrency` requests in flight, one answered request
    each. Returns (the failures, a task that keeps the connections until `hold` is set and then
    closes them)."""
    u = urlsplit(url)
    host, port = u.hostname, u.port or 80
    request = (f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\n"
               "User-Agent: portcullis-bench-idle\r\n\r\n").encode()
    progress = _Progress(count, concurrency)
    tasks = []
    for _ in range(count):
        await progress.gate.acquire()
        tasks.append(asyncio.create_task(_one(host, port, request, progress, hold)))
    await progress.all_answered.wait()
    return progress.failures, asyncio.gather(*tasks)


async def _main(url, count):
    hold = asyncio.Event()
    failures, task = await hold_connections(url, count, hold)
    print(f"{count - len(failures)} connections open, {len(failures)} failed {failures[:3]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    hold.set()
    await task


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], int(sys.argv[2])))
