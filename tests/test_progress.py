"""Long work shows progress where rich draws nothing: piped into a file or a CI log, each
step, its changes and its end are plain lines."""

from __future__ import annotations

import io

from rich.console import Console

from clickpulse.progress import Progress, status


def run_steps(console: Console) -> str:
    with Progress(console=console) as progress:
        task = progress.add_task("producing events", total=3)
        progress.advance(task)
        progress.advance(task)   # the same step again within 30 s: no line
        progress.update(task, description="[green]producing events, then the suite")
        progress.advance(task)   # done
    return console.file.getvalue()


def plain(text: str) -> list[str]:
    return [line.split("] ", 1)[1] for line in text.splitlines() if line.startswith("[") and "s] " in line]


def test_piped_output_gets_a_line_per_step_change_and_one_at_the_end():
    output = run_steps(Console(file=io.StringIO(), force_terminal=False, width=120))
    assert plain(output) == [
        "producing events 0/3",
        "producing events, then the suite 2/3",
        "producing events, then the suite 3/3 (done)",
    ]


def test_a_terminal_gets_rich_bars_and_no_plain_lines():
    output = run_steps(Console(file=io.StringIO(), force_terminal=True, width=120))
    assert "producing events" in output
    assert plain(output) == []


def test_a_status_off_a_terminal_is_a_line_per_new_text():
    console = Console(file=io.StringIO(), force_terminal=False, width=120)
    with status(console, "taskmanager-kill: warming up") as spinner:
        spinner.update("taskmanager-kill: warming up")   # unchanged: no line
        spinner.update("taskmanager-kill: [bold]kill -9[/] the TaskManager")
    assert plain(console.file.getvalue()) == ["taskmanager-kill: warming up", "taskmanager-kill: kill -9 the TaskManager"]
