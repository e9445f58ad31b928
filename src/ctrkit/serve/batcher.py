"""Micro-batching: concurrent requests' rows gathered for at most ``max_wait_s`` and scored as one batch."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np

Rows = List[Any]


class MicroBatcher:
    """Collects the rows of concurrent requests and scores them together.

    A request is *arriving* from when the service starts reading it (``arriving()``) until it
    calls the batcher. The first request in the queue opens a batch; the batch takes every request
    already queued and waits, for at most ``max_wait_s`` after it opened, only while other
    requests are arriving, up to ``max_rows`` rows in all. So a lone request is scored at once,
    and under load requests are gathered. ``score`` (a blocking function, run in a worker
    thread) turns the rows into probabilities; each request gets its own slice back.
    ``max_wait_s=0`` scores every request on its own, at once. ``close`` lets the requests already
    gathered finish; later calls are scored on their own.
    """

    def __init__(self, score: Callable[[Rows], np.ndarray], max_wait_s: float, max_rows: int = 16384,
                 observe: Optional[Callable[[int], None]] = None) -> None:
        self.score, self.max_wait_s, self.max_rows = score, max_wait_s, max_rows
        self.observe = observe or (lambda rows: None)   # told each scored batch's rows
        self._queue: Optional[asyncio.Queue] = None
        self._task: Optional[asyncio.Task] = None
        self._changed: Optional[asyncio.Event] = None   # a request queued or stopped arriving
        self._arriving = 0    # requests inside arriving()
        self._called = 0      # of them, those that called the batcher and wait for their scores
        self._closed = False

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Marks a request on its way to the batcher (its body read and checked): a batch being
        gathered waits for it, at most until its window closes."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1
            if self._changed is not None:
                self._changed.set()

    async def __call__(self, rows: Rows) -> np.ndarray:
        if self.max_wait_s <= 0 or self._closed:
            self.observe(len(rows))
            return await asyncio.to_thread(self.score, rows)
        if self._task is None:
            self._queue, self._changed = asyncio.Queue(), asyncio.Event()
            self._task = asyncio.create_task(self._run())
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._called += 1
        try:
            self._queue.put_nowait((rows, done))
            self._changed.set()
            return await done
        finally:
            self._called -= 1

    def _on_the_way(self) -> int:
        return self._arriving - self._called

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        closing = False
        while not closing:
            first = await self._queue.get()
            if first is None:
                return
            batch: List[Tuple[Rows, asyncio.Future]] = [first]
            rows = len(first[0])
            deadline = loop.time() + self.max_wait_s
            while rows < self.max_rows:
                while not self._queue.empty() and rows < self.max_rows:
                    item = self._queue.get_nowait()
                    if item is None:
                        closing = True
                        break
                    batch.append(item)
                    rows += len(item[0])
                left = deadline - loop.time()
                if closing or rows >= self.max_rows or self._on_the_way() <= 0 or left <= 0:
                    break
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except asyncio.TimeoutError:
                    pass
            gathered = [row for part, _ in batch for row in part]
            self.observe(len(gathered))
            try:
                p = await asyncio.to_thread(self.score, gathered)
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the scoring error
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            start = 0
            for part, done in batch:
                if not done.done():
                    done.set_result(p[start:start + len(part)])
                start += len(part)

    async def close(self) -> None:
        """Score what is gathered, then stop gathering."""
        self._closed = True
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
