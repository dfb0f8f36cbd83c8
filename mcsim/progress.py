"""A text progress bar with an ETA, on stderr, in shards.

The bar and its percentage count finished shards.  The ETA is calibrated from the
shards' measured run times: for each kind of shard (``se``, ``mc``), the ratio of the
seconds its finished shards took to their estimated cost, times the estimated cost
of the ones left, over the workers (a kind with no finished shard yet borrows the
other kind's ratio).  No ETA is shown before 5 % of the estimated work is done (the
first shards carry the compilation).  ``phase(text)`` prints a line of its own.

On a terminal the bar redraws in place; otherwise (a log file, a batch job) it
prints a line at each further 10 % or every 60 s, whichever comes first.
"""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """``Progress({kind: [cost, ...]}, label, workers)``: the estimated costs of the shards
    of each kind; call ``advance(kind, cost, seconds)`` as a shard finishes (its measured
    run time), ``close()`` at the end."""

    WIDTH = 30
    ETA_AFTER = 0.05

    def __init__(self, costs: dict, label: str, workers: int = 1, stream=None, clock=time.monotonic):
        self.left = {kind: float(sum(c)) for kind, c in costs.items()}
        self.total = max(sum(self.left.values()), 1e-300)
        self.shards = sum(len(c) for c in costs.values())
        self.estimated = {kind: 0.0 for kind in costs}  # of the finished shards
        self.measured = {kind: 0.0 for kind in costs}
        self.label, self.workers = label, max(int(workers), 1)
        self.stream = stream or sys.stderr
        self.clock = clock
        self.start = clock()
        self.finished = 0
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_line = (-1.0, self.start)  # fraction and time of the last printed line

    def _ratio(self, kind: str) -> float | None:
        if self.estimated.get(kind):
            return self.measured[kind] / self.estimated[kind]
        done = sum(self.estimated.values())
        return sum(self.measured.values()) / done if done else None

    def eta(self) -> float | None:
        """Seconds left (None before ETA_AFTER of the estimated work is done)."""
        if 1 - sum(self.left.values()) / self.total < self.ETA_AFTER:
            return None
        return sum(self._ratio(kind) * left for kind, left in self.left.items() if left > 0) / self.workers

    def line(self) -> str:
        frac = self.finished / max(self.shards, 1)
        eta = self.eta()
        bar = "#" * int(frac * self.WIDTH) + "." * (self.WIDTH - int(frac * self.WIDTH))
        return (f"{self.label} [{bar}] {self.finished}/{self.shards} shards ({100 * frac:.0f}%), "
                f"{_clock(self.clock() - self.start)} elapsed, ETA {'?' if eta is None else _clock(eta)}")

    def advance(self, kind: str, cost: float, seconds: float) -> None:
        self.finished += 1
        self.left[kind] -= cost
        self.estimated[kind] += cost
        self.measured[kind] += seconds
        frac, now = self.finished / max(self.shards, 1), self.clock()
        if self.live:
            self.stream.write("\r" + self.line())
        elif frac >= self._last_line[0] + 0.1 or now - self._last_line[1] >= 60 or frac >= 1:
            self.stream.write(self.line() + "\n")
            self._last_line = (frac, now)
        self.stream.flush()

    def phase(self, text: str) -> None:
        """A line of its own (on a terminal, below the bar)."""
        self.stream.write(("\n" if self.live and self.finished else "") + f"{self.label}: {text}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
