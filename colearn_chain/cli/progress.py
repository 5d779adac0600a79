"""The progress bar of the commands that do long work, one look for all of them."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bar(unit: str, console: Console) -> Progress:
    """A bar counting ``unit``s (rounds, episodes) with a free-text description and elapsed time."""
    return Progress(
        TextColumn(f"[bold]{unit}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    )
