"""A small HTTP load client: threads with one keep-alive connection each, 127.0.0.1 only.

The load is spread over a few processes (threads of one Python process share one core
through the GIL, which would slow the client, not the server, and inflate latencies).
Every loop is bounded by a count or a deadline.
"""

from __future__ import annotations

import http.client
import json
import math
import multiprocessing
import threading
import time
from dataclasses import dataclass, field

HOST = "127.0.0.1"
TIMEOUT_S = 30


@dataclass
class Result:
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    # wall-clock time (time.time()) at which each 201 answer arrived
    created_at: list[float] = field(default_factory=list)
    errors: int = 0

    def merge(self, other: Result) -> None:
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.latencies_ms += other.latencies_ms
        self.created_at += other.created_at
        self.errors += other.errors


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, headers: dict
) -> int:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def _worker(
    port: int,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict,
    take,  # callable: True while this thread may send one more request
    result: Result,
    lock: threading.Lock,
) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
    local = Result()
    try:
        while take():
            started = time.perf_counter()
            try:
                status = _request(conn, method, path, body, headers)
            except (OSError, http.client.HTTPException):
                local.errors += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
                continue
            local.latencies_ms.append((time.perf_counter() - started) * 1000)
            local.statuses[status] = local.statuses.get(status, 0) + 1
            if status == 201:
                local.created_at.append(time.time())
    finally:
        conn.close()
        with lock:
            result.merge(local)


def _process(args: tuple) -> Result:
    """One client process: ``threads`` threads, a request budget or a deadline."""
    port, method, path, body, headers, threads, budget, start_at, duration_s = args
    lock = threading.Lock()
    result = Result()
    remaining = [budget]
    deadline = start_at + duration_s if duration_s else None

    def take() -> bool:
        if deadline is not None and time.time() >= deadline:
            return False
        if budget is None:
            return True
        with lock:
            if remaining[0] <= 0:
                return False
            remaining[0] -= 1
            return True

    pool = [
        threading.Thread(
            target=_worker, args=(port, method, path, body, headers, take, result, lock)
        )
        for _ in range(threads)
    ]
    time.sleep(max(0.0, start_at - time.time()))
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return result


def run(
    *,
    port: int,
    method: str,
    path: str,
    body: dict | None = None,
    headers: dict | None = None,
    clients: int = 16,
    processes: int = 2,
    total_requests: int | None = None,
    duration_s: float | None = None,
) -> tuple[Result, float]:
    """Send the load; returns the merged result and the wall-clock start time.

    ``total_requests`` is split evenly across processes; ``duration_s`` bounds the run.
    """
    assert total_requests is not None or duration_s is not None, "unbounded load"
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Host": f"{HOST}:{port}", **(headers or {})}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    start_at = time.time() + 0.5  # the processes start together
    jobs = []
    for index in range(processes):
        budget = None
        if total_requests is not None:
            budget = total_requests // processes + (1 if index < total_requests % processes else 0)
        jobs.append(
            (
                port,
                method,
                path,
                payload,
                headers,
                clients // processes,
                budget,
                start_at,
                duration_s,
            )
        )
    merged = Result()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for result in pool.map(_process, jobs):
            merged.merge(result)
    return merged, start_at


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))  # nearest rank
    return ordered[index]
