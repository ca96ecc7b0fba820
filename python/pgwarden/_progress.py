"""Progress of branch copies: bytes copied of the parent's size, rate, time left.

:class:`Sampler` measures a copy while it runs (a thread asking every quarter
second); :class:`CopyProgress` shows what it reports: a tqdm bar on a
terminal, plain lines otherwise (one every few seconds, and at each phase's
end), always on standard error.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, Self

import psycopg

from ._cli_util import human_size

#: progress(phase, done, total): bytes; phase "copy" (template), "dump" or "restore".
Progress = Callable[[str, int, int], None]

PHASE_LABELS = {"copy": "template copy", "dump": "dump", "restore": "restore"}


class Sampler:
    """Call ``progress(phase, measure(), total)`` every ``interval`` seconds
    while the ``with`` block runs, and once more at its end."""

    def __init__(self, progress: Progress | None, phase: str, total: int,
                 measure: Callable[[], int], interval: float = 0.25) -> None:
        self.progress = progress
        self.phase = phase
        self.total = total
        self.measure = measure
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last = 0

    def _sample(self) -> None:
        try:
            done = max(int(self.measure()), self.last)
        except (OSError, psycopg.Error, ValueError):  # a failed sample never fails the copy
            return
        self.last = done
        if self.progress is not None:
            self.progress(self.phase, done, self.total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Self:
        if self.progress is not None:
            self.progress(self.phase, 0, self.total)
            self._thread = threading.Thread(target=self._run, name=f"pgwarden-{self.phase}",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if exc_type is None and self.progress is not None:
            self._sample()
            self.progress(self.phase, max(self.last, self.total), max(self.last, self.total))
        close = getattr(self.measure, "close", None)
        if close is not None:
            close()


class CopyProgress:
    """What the `pgwarden` command shows while a branch is copied."""

    def __init__(self, stream: IO[str] | None = None, *, terminal: bool | None = None,
                 line_interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.line_interval = line_interval
        self.bytes = 0
        self._bar: Any = None
        self._phase: str | None = None
        self._started = 0.0
        self._last_line = 0.0
        self._lock = threading.Lock()

    def __call__(self, phase: str, done: int, total: int) -> None:
        with self._lock:
            if phase != self._phase:
                self._finish_phase()
                self._phase = phase
                self._started = time.monotonic()
                self._last_line = 0.0
                if self.terminal:
                    from tqdm import tqdm
                    self._bar = tqdm(total=total or None, unit="B", unit_scale=True,
                                     unit_divisor=1024, desc=f"pgwarden: {PHASE_LABELS.get(phase, phase)}",
                                     file=self.stream, leave=True, dynamic_ncols=True)
            if self._bar is not None:
                if total and self._bar.total != total:
                    self._bar.total = total
                self._bar.update(max(done - self._bar.n, 0))
                return
            now = time.monotonic()
            finished = bool(total) and done >= total
            if finished or done == 0 or now - self._last_line >= self.line_interval:
                self._last_line = now
                self.stream.write(self.line(phase, done, total, now - self._started) + "\n")
                self.stream.flush()
            self.bytes = max(self.bytes, done)

    @staticmethod
    def line(phase: str, done: int, total: int, elapsed: float) -> str:
        """``pgwarden: restore: 12.0 MB of 40.0 MB (30%), 5.1 MB/s, 6 s left``"""
        label = PHASE_LABELS.get(phase, phase)
        text = f"pgwarden: {label}: {human_size(done)}"
        if total:
            text += f" of {human_size(total)} ({min(100, 100 * done // total)}%)"
        if elapsed > 0 and done:
            rate = done / elapsed
            text += f", {human_size(rate)}/s"
            if total and done < total:
                text += f", {max(1, round((total - done) / rate))} s left"
        return text

    def _finish_phase(self) -> None:
        if self._bar is not None:
            self.bytes = max(self.bytes, int(self._bar.n))
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        with self._lock:
            self._finish_phase()
