"""What a maintenance batch did: one line per action, counts, and every failure.

A batch never stops at the first bad photo or job: it records the failure
and carries on, so one unreadable file cannot block a night's cleanup. The
CLI prints the lines and the summary and exits 1 when anything failed; the
daemon's scheduler logs the same summary and failures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Report:
    """The outcome of one command: ``did`` for each action, ``failed`` for each item that went wrong."""

    name: str
    dry_run: bool = False
    lines: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    sizes: Counter = field(default_factory=Counter)

    def did(self, kind: str, line: str | None = None, amount: int = 1) -> None:
        """Count an action of ``kind`` ("job{s} archived": ``{s}`` becomes the plural's s) and keep its line."""
        self.counts[kind] += amount
        if line:
            self.lines.append(line)

    def add_size(self, kind: str, size: int) -> None:
        """Add ``size`` bytes to a total shown after the counts, e.g. "1.5 MiB copied"."""
        self.sizes[kind] += size

    def note(self, line: str) -> None:
        """A line worth showing that is neither an action nor a failure."""
        self.lines.append(line)

    def include_build(self, built: object) -> None:
        """Fold in the site build that followed (its summary line and each photo that failed)."""
        self.note(built.summary())
        for name, problem in built.failed:
            self.failed(name, problem)

    def failed(self, item: str, reason: object) -> None:
        """Record a failed item; a reason that already names the item is kept as it is."""
        text = str(reason)
        self.failures.append(text if text.startswith(item) else f"{item}: {text}")

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line: what was done (or would be, in a dry run) and how many items failed."""
        parts = [f"{count} {kind.format(s='' if count == 1 else 's')}" for kind, count in self.counts.items() if count]
        parts += [f"{human_size(size)} {kind}" for kind, size in self.sizes.items() if size]
        done = ", ".join(parts) or "nothing to do"
        prefix = f"{self.name} (dry run)" if self.dry_run else self.name
        failed = f"; {len(self.failures)} failed" if self.failures else ""
        return f"{prefix}: {done}{failed}"


def reason(exc: BaseException, item: str = "") -> str:
    """A one-line reason for a failed item, without a traceback; names the file unless it is the item."""
    if isinstance(exc, OSError) and exc.strerror:
        named = exc.filename and str(exc.filename) != item
        return f"{exc.strerror} ({exc.filename})" if named else exc.strerror
    return str(exc) or type(exc).__name__


def human_size(size: int) -> str:
    """Bytes as a short readable size: 812 KiB, 3.4 MiB, 1.2 GiB."""
    if size < 2**20:
        return f"{size / 2**10:.0f} KiB"
    if size < 2**30:
        return f"{size / 2**20:.1f} MiB"
    return f"{size / 2**30:.1f} GiB"
