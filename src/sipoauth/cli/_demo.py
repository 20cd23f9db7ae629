"""`sipoauth demo`: SIP OAuth mode end to end on this machine (issue 6 point 5)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["demo_command"]


def demo_command(
    keep: Annotated[
        Path | None,
        typer.Option(
            "--keep",
            help="Work in DIR (new or empty) and keep it: the node's data directory, "
            "the edge's, the logs. Default: a temporary directory, removed at the end.",
        ),
    ] = None,
) -> None:
    """Run the whole flow on this machine: a node and an edge on free ports, the
    task flow through the CLI, a desk phone on premises, one through the edge
    and a soft client registered; a revocation, a reset, a clean stop."""
    from rich.console import Console

    from sipoauth.sim._demo import DemoConfig, run_demo

    console = Console(highlight=False)
    try:
        status = asyncio.run(run_demo(DemoConfig(keep=keep), console))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, SIGTERM
        console.print("interrupted: what the demo started is stopped")
        raise typer.Exit(130) from None
    raise typer.Exit(status)
