"""A lean HTTP load generator for local services (chapter 11): closed and open loops.

Why not httpx: on a 2-core machine its per-request cost on the client side (about a millisecond) is as
large as the service's, so a load test with it measures the client. This generator sends pre-encoded
HTTP/1.1 requests over keep-alive connections with asyncio streams, which costs a few tens of
microseconds per request, and records every latency.

- :func:`closed_loop`: ``clients`` virtual users, each sending its next request when the previous one is
  answered (like ``wrk``, or ``locust`` without waits). Offered load adapts to the server, so latency is
  clients / throughput (Little's law) and says little about the server on its own.
- :func:`open_loop`: requests arrive at a fixed rate (Poisson arrivals, seeded) whether or not earlier ones
  were answered, as real users do. Each latency is measured from the moment the request was *due*, so a
  request that waits for a free connection is not flattered ("coordinated omission"). Above the service's
  capacity the achieved rate falls below the offered rate and latencies grow with the test's length.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from utils.validate import whole_number


@dataclass
class LoadResult:
    """One load-test run: latencies (ms) of the measured requests, their statuses, and the wall time."""

    latencies_ms: np.ndarray
    statuses: np.ndarray  # HTTP status per request; 0 = the connection failed
    elapsed_s: float
    offered_per_s: float | None = None  # open loop only
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return int((self.statuses != 200).sum())

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s

    def summary(self) -> dict:
        p50, p95, p99 = np.percentile(self.latencies_ms, [50, 95, 99])
        row = {"requests": len(self.latencies_ms), "requests per second": self.throughput,
               "p50 (ms)": p50, "p95 (ms)": p95, "p99 (ms)": p99, "failed": self.failed}
        if self.offered_per_s is not None:
            row = {"offered per second": self.offered_per_s, **row}
        return row


def _split_url(url: str):
    parts = urlsplit(url) if isinstance(url, str) else None
    if not parts or parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ValueError(f"url must look like 'http://127.0.0.1:8000' (plain HTTP, with a port), got {url!r}")
    return parts


def _encode_requests(url: str, path: str, bodies: Sequence) -> tuple[str, int, list[bytes]]:
    parts = _split_url(url)
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    if isinstance(bodies, (str, bytes, dict)) or not isinstance(bodies, Sequence) or not len(bodies):
        raise ValueError("bodies must be a non-empty list of JSON-serialisable request bodies")
    encoded = []
    for body in bodies:
        payload = body if isinstance(body, bytes) else json.dumps(body, allow_nan=False).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        encoded.append(head.encode() + payload)
    return parts.hostname, parts.port, encoded




class _Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads the whole response."""

    def __init__(self, host: str, port: int):
        self.host, self.port, self.reader, self.writer = host, port, None, None

    async def send(self, request: bytes, timeout: float) -> int:
        try:
            return await asyncio.wait_for(self._send(request), timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            self.close()
            return 0

    async def _send(self, request: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            raise ValueError("the response has no Content-Length")
        length = int(head[start + 17:head.index(b"\r\n", start + 2)])
        await self.reader.readexactly(length)
        if b"\r\nconnection: close" in head:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def closed_loop(url: str, path: str, bodies: Sequence, *, clients: int, requests: int,
                      warmup: int = 0, timeout: float = 30.0) -> LoadResult:
    """POST ``requests`` bodies (cycling through ``bodies``) from ``clients`` concurrent virtual clients.

    ``warmup`` requests are sent first by the same clients and not recorded (connections, caches and the
    server's thread pool are warm when measuring starts).
    """
    host, port, encoded = _encode_requests(url, path, bodies)
    clients, requests = whole_number("clients", clients), whole_number("requests", requests)
    warmup = whole_number("warmup", warmup, minimum=0)
    connections = [_Connection(host, port) for _ in range(clients)]
    latencies, statuses = np.empty(requests), np.empty(requests, dtype=int)

    async def phase(count: int, record: bool) -> None:
        counter = iter(range(count))

        async def client(connection: _Connection) -> None:
            for i in counter:
                start = time.perf_counter()
                status = await connection.send(encoded[i % len(encoded)], timeout)
                if record:
                    latencies[i], statuses[i] = 1000 * (time.perf_counter() - start), status

        await asyncio.gather(*(client(connection) for connection in connections))

    try:
        if warmup:
            await phase(warmup, record=False)
        start = time.perf_counter()
        await phase(requests, record=True)
        elapsed = time.perf_counter() - start
    finally:
        for connection in connections:
            connection.close()
    return LoadResult(latencies, statuses, elapsed, extra={"clients": clients})


async def open_loop(url: str, path: str, bodies: Sequence, *, rate: float, requests: int, warmup: int = 0,
                    seed: int = 0, max_connections: int = 256, timeout: float = 30.0) -> LoadResult:
    """POST ``requests`` bodies arriving as a Poisson process of ``rate`` per second, answered or not.

    Latency runs from each request's scheduled arrival to its answer, so time spent waiting for one of
    the ``max_connections`` connections counts. ``warmup`` requests at the same rate come first, unrecorded.
    """
    host, port, encoded = _encode_requests(url, path, bodies)
    requests, max_connections = whole_number("requests", requests), whole_number("max_connections", max_connections)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1e6:
        raise ValueError(f"rate must be a number of requests per second between 0 and 1e6, got {rate!r}")
    warmup = whole_number("warmup", warmup, minimum=0)
    total = warmup + requests
    due = np.cumsum(np.random.default_rng(seed).exponential(1 / rate, size=total))
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(max_connections):
        idle.put_nowait(_Connection(host, port))
    latencies, statuses = np.empty(total), np.empty(total, dtype=int)
    loop = asyncio.get_running_loop()
    origin = loop.time() + 0.01

    async def one(i: int) -> None:
        connection = await idle.get()
        try:
            statuses[i] = await connection.send(encoded[i % len(encoded)], timeout)
        finally:
            idle.put_nowait(connection)
        latencies[i] = 1000 * (loop.time() - (origin + due[i]))

    tasks = []
    try:
        for i in range(total):
            delay = origin + due[i] - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - (origin + due[warmup - 1] if warmup else origin)
    finally:
        for task in tasks:
            task.cancel()
        while not idle.empty():
            idle.get_nowait().close()
    return LoadResult(latencies[warmup:], statuses[warmup:], elapsed, offered_per_s=float(rate))


def send_raw(url: str, data: bytes, timeout: float = 5.0) -> int | str:
    """Send ``data`` as it is (any bytes: a broken request, a lying header) and return the HTTP status.

    Returns ``"timeout"`` when no answer starts within ``timeout`` seconds and ``"dropped"`` when the
    server closes the connection without answering (chapter 11's attacks on its own service).
    """
    import socket

    parts = _split_url(url)
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes (the raw request), got {type(data).__name__}")
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as connection:
        try:
            connection.sendall(data)
            answer = b""
            while b"\r\n" not in answer:
                chunk = connection.recv(65536)
                if not chunk:
                    return "dropped"
                answer += chunk
        except TimeoutError:
            return "timeout"
        except ConnectionResetError:
            return "dropped"
    return int(answer.split(b" ", 2)[1])


def raw_post(path: str, body: bytes, *, content_length: str | None | bool = True, chunk_size: int | None = None) -> bytes:
    """A raw HTTP/1.1 POST of ``body`` to ``path``: a true Content-Length (True), a given one (a string), none
    (None), or a chunked body (``chunk_size`` bytes per chunk, no Content-Length)."""
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    if chunk_size:
        chunks = b"".join(f"{len(body[i:i + chunk_size]):x}\r\n".encode() + body[i:i + chunk_size] + b"\r\n"
                          for i in range(0, len(body), chunk_size))
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"
    if content_length is True:
        head += f"Content-Length: {len(body)}\r\n"
    elif content_length is not None and content_length is not False:
        head += f"Content-Length: {content_length}\r\n"
    return head.encode() + b"\r\n" + body
