"""Benchmark: the feed server's 304 latency and 1,000 GETs over 50 connections.

Owns: timing only.  It starts a ``FeedServer`` on 127.0.0.1 (any free port) on
an asyncio loop in a child process, so the server and the clients do not share
one GIL, serves a
calendar of ``--events`` touch-ups built by ``ics``, and stops it at the end.

Prints:
* 304 latency: median and p95 of conditional GETs (If-None-Match) on one
  keep-alive connection, next to a floor measured in the same run: the same
  client against a bare asyncio responder in a child process that answers
  every request head with a fixed 304, with no parsing or checks;
* load: 1,000 GETs spread over 50 concurrent keep-alive connections, with
  the number of errors (anything but a 200 with the full body), the wall
  time and requests per second.

Must not: assert anything (tests do that) or leave the child running.
Usage: python bench/bench_feed.py [--events N] [--requests R] [--connections C]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warmupd.calendar import ics
from warmupd.calendar.feed import FeedServer
from warmupd.calendar.token import feed_path, load_or_create_token
from warmupd.clock import SYSTEM
from warmupd.core.model import Book, Contact, History, TouchUp
from warmupd.core.plan import Capacity, Plan
from warmupd.core.settings import Settings


def calendar(n: int) -> bytes:
    today = date(2026, 6, 1)
    ups = tuple(TouchUp(f"p{i}", f"Person {i}", today, today, f"new/{i}", 42) for i in range(n))
    p = Plan(today, today, ((today, ups),), Capacity(n, float(n), n, 5))
    people = tuple(Contact(f"p{i}", f"Person {i}", 42) for i in range(n))
    book = Book(settings=Settings(), circles={}, contacts=people)
    return ics.build_calendar(book, History(), p, version="bench", tz="UTC")


def serve_feed(token_file: str, body: bytes, pipe: Connection) -> None:
    async def main() -> None:  # the server runs on this loop, as on the daemon's
        srv = FeedServer(bind="127.0.0.1", port=0, token_file=Path(token_file), clock=SYSTEM)
        await srv.start()
        srv.set_body(body, datetime(2026, 6, 1, tzinfo=UTC))
        pipe.send(srv.port)
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # any message: stop
        await srv.stop()

    asyncio.run(main())


def serve_floor(pipe: Connection) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        pipe.send(server.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        server.close()

    asyncio.run(main())


def conditional_latency(port: int, path: str, etag: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"If-None-Match": etag})
            resp = conn.getresponse()
            resp.read()
            out.append(time.perf_counter() - t0)
            if resp.status != 304:
                raise RuntimeError(f"expected 304, got {resp.status}")
    finally:
        conn.close()
    return out


def load(port: int, path: str, body: bytes, requests: int, connections: int) -> tuple[int, float]:
    errors = 0
    lock = threading.Lock()
    per = [
        requests // connections + (1 if i < requests % connections else 0)
        for i in range(connections)
    ]
    start = threading.Barrier(connections + 1)

    def worker(count: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        bad = 0
        start.wait()
        for _ in range(count):
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                if resp.status != 200 or resp.read() != body:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        with lock:
            errors += bad

    threads = [threading.Thread(target=worker, args=(c,)) for c in per]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return errors, time.perf_counter() - t0


def child(
    target: Callable[..., None], *args: object
) -> tuple[mp.process.BaseProcess, Connection, int]:
    ours, theirs = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=target, args=(*args, theirs), daemon=True)
    proc.start()
    port = ours.recv()
    return proc, ours, int(port)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="feed server: 304 latency and concurrent GETs")
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--samples", type=int, default=500)
    args = ap.parse_args(argv)
    body = calendar(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "feed-token"
        path = feed_path(load_or_create_token(token_file))
        feed, feed_pipe, port = child(serve_feed, str(token_file), body)
        floor, floor_pipe, floor_port = child(serve_floor)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            etag = resp.getheader("ETag") or ""
            resp.read()
            conn.close()
            ours: list[float] = []
            base: list[float] = []
            for _ in range(5):  # interleaved rounds: machine load hits both alike
                ours += conditional_latency(port, path, etag, args.samples // 5)
                base += conditional_latency(floor_port, "/", '"x"', args.samples // 5)
            m, fm = statistics.median(ours), statistics.median(base)
            p95 = statistics.quantiles(ours, n=20)[-1]
            print(f"body: {len(body)} bytes ({args.events} events)")
            print(
                f"304 latency: median {m * 1e6:.0f} us, p95 {p95 * 1e6:.0f} us;"
                f" floor median {fm * 1e6:.0f} us; ratio {m / fm:.2f}x"
            )
            errors, wall = load(port, path, body, args.requests, args.connections)
            print(
                f"load: {args.requests} GETs over {args.connections} connections:"
                f" {errors} errors, {wall:.2f} s, {args.requests / wall:.0f} req/s"
            )
        finally:
            for pipe, proc in ((feed_pipe, feed), (floor_pipe, floor)):
                pipe.send("stop")
                proc.join(10)
                if proc.is_alive():
                    proc.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
