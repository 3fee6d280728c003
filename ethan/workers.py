"""Image preparation off the event loop: in threads (the default) or in worker processes.

Decoding, resizing and re-encoding a photo is CPU work. In threads it shares one core's
worth of the interpreter with the HTTP client and the parser; with ``workers=N`` it runs in
N processes, so a client on a machine with several cores is not held to one.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ethan.errors import ImageError
from ethan.images import PreparedImage, path_label, prepare_image


class ImageWorkers:
    """Where images are prepared: ``workers=0`` in threads, else in that many processes.

    The processes start on first use (spawned, so they hold no copy of the caller's threads
    or locks) and live until :meth:`close`.
    """

    def __init__(self, workers: int = 0) -> None:
        if workers < 0:
            raise ValueError(f"workers must be 0 (threads) or more, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    async def prepare(self, source: str | Path | bytes, *, max_side: int) -> PreparedImage:
        """:func:`~ethan.images.prepare_image` off the event loop; raises ImageError."""
        job = functools.partial(prepare_image, source, max_side=max_side)
        if self.workers == 0:
            return await asyncio.to_thread(job)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._processes(), job)
        except BrokenProcessPool:
            # a worker died (killed, out of memory): this image fails, a new pool serves on
            self.close()
            label = "<bytes>" if isinstance(source, bytes) else path_label(source)
            raise ImageError(f"{label}: the image worker process died") from None

    def _processes(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
