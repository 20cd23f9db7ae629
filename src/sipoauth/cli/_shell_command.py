"""`sipoauth cli`: the command that starts the `admin:` shell of `_shell.py`.

Apart from the shell so that the command line registers it without importing
prompt_toolkit and the administration rules: they load when the shell starts.
"""

from __future__ import annotations

import sys

import typer

from ._system import os_user

__all__ = ["shell_command"]


def shell_command(ctx: typer.Context) -> None:
    """Administration shell with an admin: prompt, as on the reference (reads stdin if piped).

    Commands are the sipoauth commands, in any case; Tab completes, `help` lists
    them, `exit` or Ctrl-D leaves. With stdin not a terminal, runs it as a
    script and exits 1 if a command failed.
    """
    from sipoauth import admin

    from ._shell import Shell, root_arguments, run_interactive, run_script

    root = ctx.find_root()
    shell = Shell(root.command, root_arguments(root))
    # Changes made at the prompt are audited as the shell's (issue 4 point 12);
    # the commands' own root callback keeps an actor that is already set.
    with admin.acting_as(admin.Actor(os_user(), "shell")):
        if sys.stdin.isatty():
            run_interactive(shell)
        elif not run_script(shell, sys.stdin):
            raise typer.Exit(1)
