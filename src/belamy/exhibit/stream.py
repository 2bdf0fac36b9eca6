"""Latest-frame-wins streaming: a producer thread publishes, each client takes only the newest frame.

Every screen keeps exactly one frame (the newest). A client is sent a frame, and the next one only
after it acknowledges the last; whatever was published meanwhile and superseded is simply never sent.
A slow client therefore sees a lower frame rate, never a growing delay, and the server holds
O(screens) frames whatever the number or speed of clients: memory stays flat for days.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from belamy.exhibit.frames import FrameGenerator


class FrameSlot:
    """The newest frame of one screen, and the asyncio events of clients waiting for a newer one."""

    def __init__(self):
        self._lock = threading.Lock()
        self.frame: bytes | None = None
        self.seq = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def publish(self, frame: bytes) -> None:
        with self._lock:
            self.frame, self.seq = frame, self.seq + 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the loop closed under us (shutdown)
                loop.call_soon_threadsafe(event.set)

    def latest(self) -> tuple[int, bytes | None]:
        with self._lock:
            return self.seq, self.frame

    def add_waiter(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters.add((loop, event))

    def remove_waiter(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters.discard((loop, event))

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._waiters)


class FrameProducer:
    """Runs a FrameGenerator in a thread at up to ``fps``, while at least one client is watching.

    The walk advances one step per frame made, so the morph keeps its pace in frames: a machine
    slower than ``fps`` shows the same journey, slower, rather than skipping through it.
    """

    def __init__(self, generator: FrameGenerator, fps: float):
        self.generator, self.fps = generator, fps
        self.slots = [FrameSlot() for _ in generator.screens]
        self.frames_made = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watched(self) -> bool:
        return any(slot.clients for slot in self.slots)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="belamy-exhibit-frames", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def make_one(self) -> None:
        for slot, frame in zip(self.slots, self.generator.next_frames(), strict=True):
            slot.publish(frame)
        self.frames_made += 1

    def _run(self) -> None:
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        next_due = time.perf_counter()
        while not self._stop.is_set():
            if not self.watched() and all(slot.frame is not None for slot in self.slots):
                self._stop.wait(0.05)  # nobody looking: rest, and keep the walk where it is
                next_due = time.perf_counter()
                continue
            try:
                self.make_one()
            except Exception as err:  # keep the last good frames on screen; report through /health
                self.error = err
                self._stop.wait(1.0)
                continue
            next_due += period
            delay = next_due - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_due = time.perf_counter()  # running late: do not try to catch up in a burst
