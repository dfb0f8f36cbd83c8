"""A text progress bar with an ETA, on stderr.

On a terminal the bar redraws in place; otherwise (a log file, a batch job) it
prints a line at each further 10% or every 60 s, whichever comes first.  The ETA
is elapsed time x remaining work / work done, with work in the caller's units,
shown once 5% of the work is done.
"""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """``Progress(total_work, label)``; call ``advance(work)`` as units finish, ``close()`` at the end."""

    WIDTH = 30
    ETA_AFTER = 0.05  # the first units carry start-up costs (compilation): no ETA before 5% is done

    def __init__(self, total: float, label: str, stream=None, clock=time.monotonic):
        self.total = max(float(total), 1e-300)
        self.label = label
        self.stream = stream or sys.stderr
        self.clock = clock
        self.start = clock()
        self.done = 0.0
        self.tasks = 0
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_line = (-1.0, self.start)  # fraction and time of the last printed line

    def line(self) -> str:
        frac = min(self.done / self.total, 1.0)
        elapsed = self.clock() - self.start
        eta = _clock(elapsed * (1 - frac) / frac) if frac >= self.ETA_AFTER else "?"
        bar = "#" * int(frac * self.WIDTH) + "." * (self.WIDTH - int(frac * self.WIDTH))
        return f"{self.label} [{bar}] {100 * frac:3.0f}%  {self.tasks} shards  {_clock(elapsed)} elapsed, ETA {eta}"

    def advance(self, work: float) -> None:
        self.done += work
        self.tasks += 1
        frac, now = self.done / self.total, self.clock()
        if self.live:
            self.stream.write("\r" + self.line())
        elif frac >= self._last_line[0] + 0.1 or now - self._last_line[1] >= 60 or frac >= 1:
            self.stream.write(self.line() + "\n")
            self._last_line = (frac, now)
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
