"""Load: many images through the real OpenAI backend against a local server with latency.

Sends N images (the corpus photos shrunk to a few dozen pixels, cycled, so the client's CPU is
not what is measured) through ``Geolocator.locate_many`` with the ``openai`` backend over real
HTTP to the replay server (``tests/replay_server.py``), which sleeps ``--latency`` seconds in
every request before it answers with recorded model text. The server runs in its own process.

With C images in flight and L seconds per request, no client can beat C / L images per
second; the script prints the measured throughput, its ratio to that bound (goal: >= 0.9),
resident memory at checkpoints and the peak (goal: flat), and that no image was lost.

    python eval/bench/load_openai.py                         # 10,000 images, 64 in flight, 0.5 s
    python eval/bench/load_openai.py --n 2000 --latency 0.2
    python eval/bench/load_openai.py --concurrency 128 --workers 2   # 2 image processes
    python eval/bench/load_openai.py --n 2000 --profile /tmp/client.prof  # cProfile the client
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import multiprocessing
import os
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "streetview-dev"
BACKLOG = 1024


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mib()


def peak_rss_mib() -> float:
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def serve(corpus: Path, latency: float, conn: Connection) -> None:
    """Child process: run the replay server until the parent says stop.

    Two socket defaults of Python's HTTP server would be measured instead of the client:
    a listen backlog of 5 (the first wave's 64 simultaneous connections overflow it and some
    are reset) and Nagle's algorithm on the server's sockets (the response body, written
    after its headers, waits for the client's delayed ACK: about 40 ms a request). This
    process serves nothing else, so both are set here for every server it makes.
    """
    import http.server
    import socketserver

    sys.path.insert(0, str(ROOT))
    from tests.replay_server import ReplayCorpus, ReplayServer

    socketserver.TCPServer.request_queue_size = BACKLOG
    http.server.BaseHTTPRequestHandler.disable_nagle_algorithm = True
    with ReplayServer(ReplayCorpus(corpus), latency=latency) as server:
        conn.send(server.base_url)
        mark = (time.process_time(), 0)
        while conn.recv() == "mark":  # any other message stops the server
            mark = (time.process_time(), len(server.requests))
        conn.send((len(server.requests), time.process_time() - mark[0], mark[1]))


def cpu_wait_s() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat)."""
    stat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
    try:
        return int(stat.read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


def workers_cpu_s(geo: object) -> float:
    """CPU seconds (user + system) of the Geolocator's image worker processes so far."""
    pool = getattr(getattr(geo, "_images", None), "_pool", None)
    total = 0.0
    for pid in getattr(pool, "_processes", None) or {}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def small_images(side: int) -> list[bytes]:
    """The corpus photos shrunk to ``side`` pixels, as JPEG bytes."""
    out = []
    for path in sorted((CORPUS / "images").iterdir()):
        with Image.open(path) as img:
            img.thumbnail((side, side))
            buffer = io.BytesIO()
            img.convert("RGB").save(buffer, "JPEG", quality=85)
            out.append(buffer.getvalue())
    return out


class InlineExecutor(ThreadPoolExecutor):
    """Runs each job at once in the calling thread: under --profile, cProfile (which sees
    one thread) then sees the preparation and interpretation work too."""

    def submit(self, fn: Callable[..., object], /, *args: object, **kwargs: object) -> Future:  # type: ignore[type-arg]
        future: Future = Future()  # type: ignore[type-arg]
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


@dataclass
class Result:
    done: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    latency_sum: float = 0.0
    cpu_s: float = 0.0
    cpu_wait_s: float = 0.0
    workers_cpu_s: float = 0.0
    checkpoints: list[tuple[int, float, float]] = field(default_factory=list)


async def run(
    base_url: str,
    server: Connection,
    images: list[bytes],
    n: int,
    concurrency: int,
    side: int,
    every: int,
    profile: str | None = None,
    workers: int = 0,
) -> tuple[Result, float]:
    from ethan import Geolocator

    def stream(count: int) -> Iterator[bytes]:
        for i in range(count):
            yield images[i % len(images)]

    geo = Geolocator(
        "openai",
        model="gpt-4o",
        backend_options={"base_url": base_url, "timeout": 60.0, "max_attempts": 1},
        cache=False,
        max_side=side,
        **({"workers": workers} if workers else {}),
    )
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        # everything on the event loop's thread, so that one profile sees all of it
        asyncio.get_running_loop().set_default_executor(InlineExecutor())
        geo._executor = InlineExecutor()  # type: ignore[assignment]
    try:
        # One wave first: opens the connections and loads the gazetteer outside the timing.
        warm = time.perf_counter()
        async for _ in geo.locate_many(stream(concurrency), concurrency=concurrency):
            pass
        warm_s = time.perf_counter() - warm
        result = Result()
        server.send("mark")  # the server counts its CPU time from here
        cpu, waited, worked = time.process_time(), cpu_wait_s(), workers_cpu_s(geo)
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        async for prediction in geo.locate_many(stream(n), concurrency=concurrency):
            result.done += 1
            result.statuses[prediction.status.value] += 1
            result.latency_sum += prediction.latency_s or 0.0
            if result.done % every == 0 or result.done == n:
                elapsed = time.perf_counter() - started
                result.checkpoints.append((result.done, rss_mib(), elapsed))
                print(
                    f"{result.done:>8,} images  rss {rss_mib():7.1f} MiB  {elapsed:7.1f} s  "
                    f"{result.done / elapsed:6.1f} images/s",
                    flush=True,
                )
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile))
        result.seconds = time.perf_counter() - started
        result.cpu_s = time.process_time() - cpu
        result.cpu_wait_s = cpu_wait_s() - waited
        result.workers_cpu_s = workers_cpu_s(geo) - worked
    finally:
        await geo.aclose()
    return result, warm_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images to send")
    parser.add_argument("--concurrency", type=int, default=64, help="images in flight")
    parser.add_argument("--latency", type=float, default=0.5, help="server seconds per request")
    parser.add_argument("--side", type=int, default=96, help="image size in pixels (>= 64)")
    parser.add_argument("--every", type=int, default=1_000, help="images between checkpoints")
    parser.add_argument(
        "--workers", type=int, default=0, help="processes that prepare images (0: threads)"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="cProfile the timed run into FILE (all client work on one thread; slower)",
    )
    args = parser.parse_args()

    images = small_images(args.side)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve, args=(CORPUS, args.latency, child), daemon=True)
    server.start()
    if not parent.poll(120):
        raise SystemExit(f"the replay server did not start (exit code {server.exitcode})")
    base_url = parent.recv()
    print(
        f"{args.n:,} images of {args.side} px, {args.concurrency} in flight, server latency "
        f"{args.latency} s/request at {base_url} (own process), "
        f"image workers: {args.workers or 'threads'}",
        flush=True,
    )
    try:
        result, warm_s = asyncio.run(
            run(
                base_url,
                parent,
                images,
                args.n,
                args.concurrency,
                args.side,
                args.every,
                args.profile,
                args.workers,
            )
        )
    finally:
        parent.send("stop")
        served, server_cpu, marked = parent.recv() if parent.poll(30) else (-1, 0.0, 0)
        server.join(timeout=10)

    bound = args.concurrency / args.latency
    throughput = result.done / result.seconds
    first, last = result.checkpoints[0], result.checkpoints[-1]
    in_flight = result.latency_sum / result.seconds  # Little's law: mean images in flight
    per_image = result.latency_sum / result.done
    print(f"warm-up wave ({args.concurrency} images, not timed): {warm_s:.2f} s")
    print(f"statuses: {dict(result.statuses)}")
    print(f"lost: {args.n - result.done} (yielded {result.done:,} of {args.n:,})")
    print(f"requests the server answered: {served:,} ({marked} in the warm-up)")
    print(f"elapsed: {result.seconds:.1f} s for {result.done:,} images")
    print(f"throughput: {throughput:.1f} images/s; ideal bound C/L = {bound:.1f} images/s")
    print(f"throughput ratio (measured / ideal): {throughput / bound:.3f}  (goal >= 0.9)")
    print(
        f"mean time per image {per_image:.3f} s (server sleeps {args.latency} s), "
        f"mean in flight {in_flight:.1f} of {args.concurrency}"
    )
    print(
        f"client CPU: {1000 * result.cpu_s / result.done:.2f} ms per image, "
        f"{100 * result.cpu_s / result.seconds:.0f}% of one core "
        f"(the bound needs <= {1000 / bound:.2f} ms per image on one core)"
    )
    if args.workers:
        print(
            f"image worker processes: {1000 * result.workers_cpu_s / result.done:.2f} ms of CPU "
            f"per image on top ({args.workers} processes)"
        )
    print(
        f"event-loop thread runnable but waiting for a CPU: {result.cpu_wait_s:.1f} s "
        f"({100 * result.cpu_wait_s / result.seconds:.0f}% of the run: CPU contention)"
    )
    timed = max(served - marked, 1)
    print(
        f"server CPU: {1000 * server_cpu / timed:.2f} ms per request, "
        f"{100 * server_cpu / result.seconds:.0f}% of one core; this machine has "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"rss: {first[1]:.1f} MiB at {first[0]:,} images, {last[1]:.1f} MiB at {last[0]:,}; "
        f"ratio {last[1] / first[1]:.3f}; peak rss {peak_rss_mib():.1f} MiB"
    )


if __name__ == "__main__":
    main()
