"""Progress bars for long work, drawn on a terminal only: piped or logged output stays plain lines.

rich comes with typer, so the base install has it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def on_terminal() -> bool:
    return sys.stderr.isatty()


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """`items`, with a bar on stderr while they are consumed (on a terminal); the bar is removed at the end."""
    if not on_terminal():
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(items, description=description, total=total, console=Console(stderr=True), transient=True)
