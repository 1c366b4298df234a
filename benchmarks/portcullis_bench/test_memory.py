"""Unit tests of the memory step's parts: the idle-connection client against a small asyncio
server on 127.0.0.1 (every connection answered once, then held open until released), resident
memory read from /proc, the table, and the README markers. Run:
cd benchmarks && python3 -m unittest portcullis_bench.test_memory"""

import asyncio
import os
import tempfile
import unittest
from pathlib import Path

from . import idle, memory


class IdleClientTest(unittest.TestCase):
    def test_holds_every_connection_after_its_answer(self):
        async def scenario():
            open_now, requests = set(), []

            async def serve(reader, writer):
                open_now.add(writer)
                head = await reader.readuntil(b"\r\n\r\n")
                requests.append(head.split(b"\r\n", 1)[0])
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                await reader.read()          # until the client closes
                open_now.discard(writer)
                writer.close()

            server = await asyncio.start_server(serve, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            release = asyncio.Event()
            failures, held = await idle.hold_connections(f"http://127.0.0.1:{port}/bench/hello", 50, release,
                                                         concurrency=8)
            during = len(open_now)
            release.set()
            await held
            for _ in range(100):           # the server sees each close on its next read
                if not open_now:
                    break
                await asyncio.sleep(0.01)
            server.close()
            return failures, during, requests, len(open_now)

        failures, during, requests, after = asyncio.run(scenario())
        self.assertEqual(failures, [])
        self.assertEqual(during, 50)
        self.assertEqual(set(requests), {b"GET /bench/hello HTTP/1.1"})
        self.assertEqual(after, 0)

    def test_a_refusal_is_a_failure(self):
        async def scenario():
            async def serve(reader, writer):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                writer.close()

            server = await asyncio.start_server(serve, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            release = asyncio.Event()
            failures, held = await idle.hold_connections(f"http://127.0.0.1:{port}/", 3, release)
            release.set()
            await held
            server.close()
            return failures

        self.assertEqual(asyncio.run(scenario()), ["status 503"] * 3)


class MemoryReportTest(unittest.TestCase):
    def test_sample_reads_this_process_group(self):
        s = memory.sample(os.getpgrp())
        self.assertGreater(s["total"], 0)
        self.assertGreater(s["anon"], 0)
        self.assertGreater(s["file"], 0)
        self.assertLessEqual(s["anon"] + s["file"], s["total"])
        self.assertGreaterEqual(s["processes"], 1)

    def test_table_and_readme_markers(self):
        mib = memory.MIB

        def fig(total):
            return {"total": total * mib, "anon": 2 * mib, "file": (total - 2) * mib, "worker": total * mib,
                    "processes": 1, "sockets": 3}

        doc = {"date": "2026-11-30 21:00 UTC", "git": "abc1234", "connections": 10000,
               "targets": {"portcullis": {"fresh": fig(20), "idle": fig(21), "held": fig(41), "closed": fig(22),
                                          "connections": 10000, "per_connection_bytes": 2097}}}
        table = memory.markdown(doc)
        self.assertIn("| portcullis | 20.0 MiB | 21.0 MiB | 2.0 / 19.0 | 21.0 MiB of 1 | 10,000 | +20.0 MiB | "
                      "2,097 B | 22.0 MiB |", table)
        with tempfile.TemporaryDirectory() as d:
            readme = Path(d) / "README.md"
            readme.write_text("# Bench\n\nkept\n")
            memory.write_readme(readme, memory.section(doc, "python3 -m portcullis_bench.memory"))
            first = readme.read_text()
            self.assertIn("kept", first)
            self.assertEqual(first.count(memory.BEGIN), 1)
            memory.write_readme(readme, "second body")
            second = readme.read_text()
            self.assertIn("second body", second)
            self.assertNotIn("abc1234", second)
            self.assertIn("kept", second)
            self.assertEqual(second.count(memory.END), 1)


if __name__ == "__main__":
    unittest.main()
