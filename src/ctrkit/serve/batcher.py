"""Micro-batching: concurrent requests' rows gathered for at most ``max_wait_s`` and scored as one batch."""
from __future__ import annotations

import asyncio
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

Rows = List[Any]


class MicroBatcher:
    """Collects the rows of concurrent requests and scores them together.

    The first waiting request opens a window of ``max_wait_s``; requests that arrive in it (up to
    ``max_rows`` rows in all) join the batch, which ``score`` (a blocking function, run in a worker
    thread) turns into probabilities; each request gets its own slice back. ``max_wait_s=0``
    scores every request on its own, at once. ``close`` lets the requests already gathered finish;
    later calls are scored on their own.
    """

    def __init__(self, score: Callable[[Rows], np.ndarray], max_wait_s: float, max_rows: int = 16384,
                 observe: Optional[Callable[[int], None]] = None) -> None:
        self.score, self.max_wait_s, self.max_rows = score, max_wait_s, max_rows
        self.observe = observe or (lambda rows: None)   # told each scored batch's rows
        self._queue: Optional[asyncio.Queue] = None
        self._task: Optional[asyncio.Task] = None
        self._closed = False

    async def __call__(self, rows: Rows) -> np.ndarray:
        if self.max_wait_s <= 0 or self._closed:
            self.observe(len(rows))
            return await asyncio.to_thread(self.score, rows)
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run())
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((rows, done))
        return await done

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
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except asyncio.TimeoutError:
                    break
                if item is None:
                    closing = True
                    break
                batch.append(item)
                rows += len(item[0])
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
