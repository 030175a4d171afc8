"""rich's progress display and status spinner, also readable where they draw nothing.

rich draws its bars only on a terminal. Piped into a file, a CI log or `| tee`, a
20-minute bench showed nothing until its final table. There this Progress writes a plain
line for each new step, when a step's description changes, every `PLAIN_EVERY_S` while a
step runs, and when it finishes; on a terminal it is rich's own, unchanged.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from rich import progress as rich_progress
from rich.console import Console
from rich.text import Text

PLAIN_EVERY_S = 30.0


class Progress(rich_progress.Progress):
    def __init__(self, *columns, **kwargs) -> None:
        super().__init__(*columns, **kwargs)
        self._plain = not self.console.is_terminal
        self._last_line: dict[rich_progress.TaskID, tuple[str, float, bool]] = {}
        self._started = time.monotonic()

    def add_task(self, description: str, *args, **kwargs) -> rich_progress.TaskID:
        task_id = super().add_task(description, *args, **kwargs)
        self._say(task_id)
        return task_id

    def update(self, task_id: rich_progress.TaskID, *args, **kwargs) -> None:
        super().update(task_id, *args, **kwargs)
        self._say(task_id)

    def advance(self, task_id: rich_progress.TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._say(task_id)

    def _say(self, task_id: rich_progress.TaskID) -> None:
        if not self._plain:
            return
        task = self._tasks[task_id]
        now = time.monotonic()
        said = self._last_line.get(task_id)
        news = (said is None or said[0] != task.description or (task.finished and not said[2])
                or now - said[1] >= PLAIN_EVERY_S)
        if not news:
            return
        self._last_line[task_id] = (task.description, now, task.finished)
        self.console.print(plain_line(task, now - self._started), markup=False, highlight=False)


def plain_line(task: rich_progress.Task, elapsed_s: float) -> str:
    """`[  12s] loading events 3,000/10,000 (done)`: elapsed time, step, count when known."""
    count = f" {task.completed:,.0f}/{task.total:,.0f}" if task.total else ""
    done = " (done)" if task.finished else ""
    return stamped(elapsed_s, task.description) + count + done


def stamped(elapsed_s: float, text: str) -> str:
    """`[  12s] text`, rich markup removed."""
    return f"[{elapsed_s:5.0f}s] {Text.from_markup(text).plain}"


class PlainStatus:
    """`console.status`'s stand-in off a terminal: each status text is a line."""

    def __init__(self, console: Console, text: str) -> None:
        self.console = console
        self._started = time.monotonic()
        self._text = None
        self.update(text)

    def update(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.console.print(stamped(time.monotonic() - self._started, text), markup=False, highlight=False)


@contextmanager
def status(console: Console, text: str):
    """A spinner with `text` on a terminal (rich's status), plain lines elsewhere; both take
    `.update(text)`."""
    if console.is_terminal:
        with console.status(text) as spinner:
            yield spinner
    else:
        yield PlainStatus(console, text)
