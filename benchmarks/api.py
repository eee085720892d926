"""API benchmarks against a real `clockd serve` on 127.0.0.1, with baselines in the same run.

    .venv/bin/python benchmarks/api.py            # < 3 minutes
    .venv/bin/python benchmarks/api.py --quick    # fewer runs and samples

- run creations per second through `POST /api/v1/jobs/{job}/runs` (runs of /bin/true), then
  every run is checked in the database: recorded, and ended `succeeded` (none lost);
  baseline: a bare Starlette endpoint under uvicorn answering the same POST with JSON;
- `clockd trigger JOB` end to end (process start → run id printed); baseline: `python -c pass`
  and `python -c "import httpx"`;
- SSE log delivery: a run prints `time.time()` on each line; latency = arrival of the line
  at a `?follow=true` client − the time it printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import DaemonProcess, free_port, wait_until  # noqa: E402

CLOCKD = Path(sys.executable).parent / "clockd"

CONFIG = f"""
[daemon]
database = "{{database}}"
listen = "127.0.0.1:{{port}}"
max_concurrent_runs = 16

[jobs.true]
command = ["/bin/true"]

[jobs.ticker]
command = ["{sys.executable}", "-u", "-c", "import time\\nfor _ in range(int('{{{{ n }}}}')):\\n    print(repr(time.time()))\\n    time.sleep(0.02)"]

[jobs.ticker.parameters.n]
type = "integer"
default = 50
"""

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
import itertools
counter = itertools.count(1)
async def create(request):
    body = await request.json()
    return JSONResponse({"id": next(counter), "parameters": body.get("parameters", {})}, status_code=201)
app = Starlette(routes=[Route("/api/v1/jobs/{job}/runs", create, methods=["POST"])])
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def post_many(base: str, total: int, concurrency: int) -> tuple[float, list[int]]:
    """`total` POSTs over `concurrency` keep-alive connections with a minimal HTTP/1.1 client
    (raw asyncio streams), so that the server, not the client library, is what is measured."""
    host, port = base.rsplit("//", 1)[1].split(":")
    body = json.dumps({"parameters": {}}).encode()
    request = (
        f"POST /api/v1/jobs/true/runs HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    ids: list[int] = []
    remaining = [total]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        answer = json.loads(await reader.readexactly(length))
        assert status == 201, answer
        return answer

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while remaining[0] > 0:
                remaining[0] -= 1
                ids.append((await one(reader, writer))["id"])
        finally:
            writer.close()

    reader, writer = await asyncio.open_connection(host, int(port))
    await one(reader, writer)  # warm-up
    writer.close()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return total / elapsed, ids


def creations(daemon: DaemonProcess, total: int) -> tuple[float, str]:
    rate, ids = asyncio.run(post_many(f"http://127.0.0.1:{daemon.port}", total, 8))

    def all_done() -> bool:
        conn = sqlite3.connect(f"file:{daemon.database}?mode=ro", uri=True, timeout=10)
        try:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(f"SELECT state FROM runs WHERE id IN ({marks})", ids).fetchall()
        finally:
            conn.close()
        return len(rows) == len(ids) and all(r[0] == "succeeded" for r in rows)

    wait_until(all_done, 120, f"all {total} runs to succeed")
    return rate, f"{len(set(ids))}/{total} recorded and succeeded"


def bare_starlette_rate(total: int) -> float:
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="bare-"))
    (folder / "bare_app.py").write_text(BARE_APP)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=folder,
    )
    try:
        import httpx

        wait_until(lambda: _answers(httpx, port), 20, "bare uvicorn")
        rate, _ = asyncio.run(post_many(f"http://127.0.0.1:{port}", total, 8))
        return rate
    finally:
        process.terminate()
        process.wait(10)


def _answers(httpx: object, port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/")  # type: ignore[attr-defined]
    except Exception:
        return False
    return True


def command_latency(
    argv: list[str], samples: int, env: dict[str, str] | None = None
) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **(env or {})})
        times.append(time.perf_counter() - started)
    return times


def sse_latency(daemon: DaemonProcess, lines: int) -> tuple[list[float], list[float]]:
    """(printed → client, captured → client) for each line."""
    from datetime import datetime

    import httpx

    base = f"http://127.0.0.1:{daemon.port}"
    latencies: list[float] = []
    delivery: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        run = client.post("/api/v1/jobs/ticker/runs", json={"parameters": {"n": lines}}).json()
        event = None
        with client.stream(
            "GET", f"/api/v1/runs/{run['id']}/logs", params={"follow": "true"}
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "line":
                    arrived = time.time()
                    data = json.loads(line[6:])
                    if data["stream"] == "stdout":
                        latencies.append(arrived - float(data["text"]))
                        captured = datetime.fromisoformat(data["time"]).timestamp()
                        delivery.append(arrived - captured)
                elif line.startswith("data: ") and event == "end":
                    break
    assert len(latencies) == lines, f"{len(latencies)} of {lines} lines arrived"
    return latencies, delivery


def row(name: str, values: list[float], unit: str = "ms") -> str:
    scale = 1000 if unit == "ms" else 1
    return (
        f"{name:<44} {statistics.median(values) * scale:9.1f} {percentile(values, 90) * scale:9.1f}"
        f" {max(values) * scale:9.1f}  {unit}  (n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    total = 200 if options.quick else 1000
    samples = 10 if options.quick else 30
    lines = 50 if options.quick else 150

    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    folder = Path(tempfile.mkdtemp(prefix="clockd-api-bench-"))
    began = time.monotonic()
    with DaemonProcess(folder, CONFIG) as daemon:
        import httpx

        wait_until(lambda: _answers(httpx, daemon.port), 15, "the daemon's HTTP API")
        rate, lost = creations(daemon, total)
        trigger = command_latency(
            [str(CLOCKD), "trigger", "true", "--url", f"127.0.0.1:{daemon.port}"], samples
        )
        sse, delivery = sse_latency(daemon, lines)
    bare_rate = bare_starlette_rate(total)
    python_pass = command_latency([sys.executable, "-c", "pass"], samples)
    python_httpx = command_latency([sys.executable, "-c", "import httpx"], samples)

    print()
    print(f"API throughput, {total} POSTs, 8 concurrent clients")
    print(f"  {'clockd POST /api/v1/jobs/true/runs':<44} {rate:9.0f} runs/s   ({lost})")
    print(f"  {'bare Starlette endpoint (same POST)':<44} {bare_rate:9.0f} req/s")
    print(f"  (load average before: {load_before})")
    print()
    print(f"  {'latency':<44} {'median':>9} {'p90':>9} {'max':>9}")
    print("  " + row("clockd trigger true (process → run id)", trigger))
    print("  " + row("python -c pass", python_pass))
    print("  " + row("python -c 'import httpx'", python_httpx))
    print("  " + row("SSE log line: printed by the run → client", sse))
    print("  " + row("  of which: captured (line time) → client", delivery))
    print(f"\n(took {time.monotonic() - began:.0f} s; {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
