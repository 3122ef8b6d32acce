"""One thread that owns a blocking resource (a sqlite3 connection) and runs calls for the loop.

A queue plus `call_soon_threadsafe` costs about half of `run_in_executor`'s round trip, and
the append path pays it on every decision. `submit` goes one step further for that path: its
callback runs in the loop turn that receives the result, a turn sooner than a future's
done-callback would (about 12 µs an append on asyncio's own loop, less on uvloop's).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")
_STOP = object()


Done = Callable[[Any, BaseException | None], None]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class DbThread:
    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            loop, fn, done = item
            try:
                result, error = fn(), None
            except BaseException as exc:  # handed to the caller on the loop, not swallowed
                result, error = None, exc
            loop.call_soon_threadsafe(done, result, error)

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((loop, fn, partial(_settle, future)))
        return future

    def submit(self, fn: Callable[[], T], done: Done) -> None:
        """Run `fn` here, then `done(result, error)` on the running loop, error None on success."""
        self._queue.put((asyncio.get_running_loop(), fn, done))

    async def stop(self) -> None:
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
