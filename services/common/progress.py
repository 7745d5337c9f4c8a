"""Progress of long operator commands (replays, re-tagging, imports).

One small API for every long command::

    with Progress(total=len(items), label="replay", unit="articles") as progress:
        for item in items:
            ...
            progress.advance()
            progress.count("skipped")  # any named tally, shown and summarised

On a terminal it draws a bar with the rate and the time left (``rich``); elsewhere (a log file,
a pipe, CI) it writes a plain line every ``interval_s`` seconds. Both go to standard error, so
standard output keeps the command's own result. At the end it writes one JSON summary line
(to standard error as well): label, status, done, total, elapsed, rate and the tallies.

Ctrl-C: a ``KeyboardInterrupt`` (or the ``CancelledError`` ``asyncio.run`` turns it into inside
a coroutine) ends the block with a line saying how far it got and status ``interrupted``; a
synchronous block then exits with code 130. ``run_async`` runs a coroutine the same way, so an
async command exits 130 too. Resuming is each command's business (it skips what it finished);
``done=`` starts the count where an earlier run stopped.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import IO, Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

# The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT_CODE = 130

T = TypeVar("T")


class _RateColumn(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"? {self.unit}/s", style="progress.data.speed")
        return Text(f"{speed:,.1f} {self.unit}/s", style="progress.data.speed")


class Progress:
    """How far a long command got: a bar on a terminal, plain lines elsewhere, a JSON summary.

    ``total`` may be None when it is not known in advance (no bar, no time left). ``done`` is
    what an earlier, interrupted run already finished: it counts towards ``total`` but not
    towards the rate. ``stream`` (standard error by default) and ``tty`` (the stream's own
    answer by default) are for tests and for callers that know better.
    """

    def __init__(
        self,
        *,
        total: int | None,
        label: str,
        unit: str = "items",
        done: int = 0,
        interval_s: float = 10.0,
        stream: IO[str] | None = None,
        tty: bool | None = None,
        resume_hint: str = "run the same command again to resume",
    ) -> None:
        if total is not None and total < 0:
            raise ValueError(f"progress total must be >= 0, not {total}")
        self.total = total
        self.label = label
        self.unit = unit
        self.done = done
        self.start_done = done
        self.counts: dict[str, int] = {}
        self.status = "running"
        self.interval_s = interval_s
        self.resume_hint = resume_hint
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty() if tty is None else tty
        self._started = 0.0
        self._last_line = 0.0
        self._lined_at = -1
        self._bar: RichProgress | None = None
        self._task: Any = None

    # -- the API -------------------------------------------------------------------------

    def advance(self, amount: int = 1) -> None:
        """``amount`` more items finished."""
        self.done += amount
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=self._description())
        else:
            self._maybe_line()

    def count(self, name: str, amount: int = 1) -> None:
        """Tally ``amount`` under ``name`` (skipped, failed, ...): shown and summarised."""
        self.counts[name] = self.counts.get(name, 0) + amount
        if self._bar is not None:
            self._bar.update(self._task, description=self._description())

    def set_total(self, total: int | None) -> None:
        """The total, once it is known (or when it changed)."""
        self.total = total
        if self._bar is not None:
            self._bar.update(self._task, total=total)

    def note(self, message: str) -> None:
        """A line of its own (above the bar on a terminal), e.g. a record that was skipped."""
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            self._write(message)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started if self._started else 0.0

    @property
    def rate_per_s(self) -> float:
        elapsed = self.elapsed_s
        return (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """What the JSON summary line says."""
        return {
            "progress": self.label,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "unit": self.unit,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(self.rate_per_s, 3),
            **self.counts,
        }

    # -- the context ---------------------------------------------------------------------

    def __enter__(self) -> Progress:
        self._started = self._last_line = time.monotonic()
        if self._tty:
            console = Console(file=self._stream, force_terminal=True, stderr=True)
            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(self.unit),
                TimeRemainingColumn(),
                TextColumn("left, elapsed"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self._description(), total=self.total, completed=self.done
            )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        interrupted = kind is not None and issubclass(
            kind, KeyboardInterrupt | asyncio.CancelledError
        )
        self.status = "done" if kind is None else "interrupted" if interrupted else "failed"
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if interrupted:
            self._write(f"{self.label}: interrupted after {self._how_far()}; {self.resume_hint}")
        elif kind is None and not self._tty and self._lined_at != self.done:
            self._write(self._line())
        self._write(json.dumps(self.summary(), ensure_ascii=False))
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            raise SystemExit(INTERRUPTED_EXIT_CODE) from error

    # -- drawing -------------------------------------------------------------------------

    def _description(self) -> str:
        tallies = "".join(f" {name}={value}" for name, value in self.counts.items())
        return f"{self.label}{tallies}"

    def _how_far(self) -> str:
        of = f" of {self.total:,}" if self.total is not None else ""
        return f"{self.done:,}{of} {self.unit}"

    def _line(self) -> str:
        parts = [f"{self.label}: {self._how_far()}"]
        if self.total:
            parts.append(f"{100 * self.done / self.total:.1f}%")
        rate = self.rate_per_s
        parts.append(f"{rate:,.1f} {self.unit}/s")
        if self.total is not None and rate > 0:
            parts.append(f"{_duration(max(0, self.total - self.done) / rate)} left")
        parts.extend(f"{name} {value:,}" for name, value in self.counts.items())
        return ", ".join(parts)

    def _maybe_line(self) -> None:
        if self._started == 0.0:
            return  # not entered: counting only
        now = time.monotonic()
        if now - self._last_line >= self.interval_s:
            self._last_line = now
            self._lined_at = self.done
            self._write(self._line())

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)``, with Ctrl-C ending the process with code 130 (the
    coroutine's ``Progress`` has said how far it got) instead of a traceback."""
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None
