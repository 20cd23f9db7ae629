"""`sipoauth cli`: the administration shell with an `admin:` prompt (issue 4).

Theory of operation. The shell has no administration commands of its own: a
line is split like a shell line (shlex), its command words are matched
case-insensitively against the command tree the `sipoauth` command line is
built from, and the line runs through that tree with the session's root options
(`--data-dir`, `--database-url`, `--node`, `--hostname`) in front. A command
added to the CLI is a shell command at once, with its help, completion and
errors. Only `help`/`?` and `exit`/`quit` belong to the shell; `cli`,
`serve`, `edge`, `sim` and `demo` are refused (one is this shell, the others
run in the foreground).

As on the reference, `UTILS SIPOAUTH-MODE ENABLE` names `utils sipOAuth-mode
enable`, a keyword from a fixed list (`SIGNING`) is the listed one, and a
command taking one text argument takes the rest of the line unquoted
(`devices delete My Phone`). Other arguments and option values stay as typed.

When stdin is not a terminal the shell reads a script, one command a line,
prints the prompt and the line before each command's output (a transcript),
and exits with status 1 if a command failed. The `cli` command itself is in
`_shell_command.py`, so that building the command line does not import
prompt_toolkit.

Typer builds its commands on its own copy of Click (`typer._click`); the
classes of the tree are imported from there, here only.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TextIO

import typer
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from typer._click import Command, Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperArgument, TyperGroup, TyperOption

from sipoauth import admin

PROMPT = "admin:"
HISTORY_FILE = ".sipoauth_history"
"""In the user's home, when it is writable; otherwise history stays in memory."""

_LEAVE = frozenset({"exit", "quit"})
_HELP = frozenset({"help", "?"})
_NOT_IN_SHELL = {
    "cli": "this is the shell already",
    "serve": "it runs the node in the foreground; start it from the system shell",
    "edge": "the edge proxy is another machine's program; run it from the system shell",
    "sim": "the simulators run in the foreground; start them from the system shell",
    "demo": "it runs a node, an edge and devices in the foreground; run it from the system shell",
}
_UNSAFE_WORD = "password"
"""Lines containing this (any case) are never kept in the history."""

Param = TyperArgument | TyperOption


class Outcome(Enum):
    """What running one line came to."""

    OK = "ok"
    FAILED = "failed"
    LEAVE = "leave"


# -- The command tree ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """A line's words, its command words spelled as in the command tree."""

    words: tuple[str, ...]
    """The words; command names replaced by the tree's spelling."""
    path: tuple[str, ...]
    """The command names found, from the root: ("utils", "sipOAuth-mode", "enable")."""
    command: Command
    """The deepest command reached; a group when the words stop (or go astray) early."""
    consumed: int
    """How many words lead to `command` (names and group options); the rest are its own."""


def resolve(root: Command, words: Sequence[str]) -> Resolved:
    """Match the command words of `words` case-insensitively, down from `root`."""
    ctx = Context(root)
    out, path, command, i = list(words), [], root, 0
    while isinstance(command, TyperGroup) and i < len(out):
        word = out[i]
        if word.startswith("-") and word != "--":
            out[i] = _option_name(command, word)
            i += 1 + _option_values(command, word)
            continue
        name = _match(command.list_commands(ctx), word)
        sub = None if name is None else command.get_command(ctx, name)
        if name is None or sub is None:
            break  # Click names the unknown word
        out[i] = name
        path.append(name)
        command, i = sub, i + 1
    return Resolved(tuple(out), tuple(path), command, min(i, len(out)))


def _match(names: Iterable[str], word: str) -> str | None:
    names = list(names)
    if word in names:
        return word
    found = [name for name in names if name.casefold() == word.casefold()]
    return found[0] if len(found) == 1 else None


def _options(command: Command) -> dict[str, TyperOption]:
    return {
        opt: param
        for param in command.params
        if isinstance(param, TyperOption)
        for opt in (*param.opts, *param.secondary_opts)
    }


def _arguments(command: Command) -> list[TyperArgument]:
    return [param for param in command.params if isinstance(param, TyperArgument)]


def _option_name(command: Command, word: str) -> str:
    """`word` (`--JSON`, `--Model=8851`) with the option's name as the command spells it."""
    name, eq, value = word.partition("=")
    found = _match(_options(command), name)
    return word if found is None else f"{found}{eq}{value}"


def _option_values(command: Command, word: str) -> int:
    """How many words after the option `word` are its values (0 for flags, `--o=v`, unknown)."""
    name, eq, _ = _option_name(command, word).partition("=")
    option = _options(command).get(name)
    if option is None or eq or option.is_flag or option.count:
        return 0
    return option.nargs


def _argument_at(arguments: Sequence[TyperArgument], position: int) -> TyperArgument | None:
    for argument in arguments:
        if argument.nargs < 0 or position < argument.nargs:
            return argument
        position -= argument.nargs
    return None


def _choices(param: Param | None) -> list[str]:
    choices = None if param is None else param.type_descriptor.choices
    return [str(c.value if isinstance(c, Enum) else c) for c in choices or ()]


@dataclass(slots=True)
class _Scan:
    """Where each word after a command goes."""

    targets: list[Param | None] = field(default_factory=list)
    """Per word, the parameter it is a value of (None: an option name, `--`, extra)."""
    positional: list[int] = field(default_factory=list)
    """Indexes of the positional words."""
    named: list[int] = field(default_factory=list)
    """Indexes of the option names (`--json`, `--model=8851`)."""
    used: set[str] = field(default_factory=set)
    """Names of the options given."""
    pending: TyperOption | None = None
    """An option at the end still waiting for its value."""
    separator: bool = False
    """`--` was given: what follows is positional."""


def _scan(command: Command, args: Sequence[str]) -> _Scan:
    options, arguments, scan = _options(command), _arguments(command), _Scan()
    left = 0
    for i, word in enumerate(args):
        if scan.pending is not None:
            scan.targets.append(scan.pending)
            left -= 1
            if left <= 0:
                scan.pending = None
        elif not scan.separator and word == "--":
            scan.separator = True
            scan.targets.append(None)
        elif not scan.separator and word.startswith("-") and word != "-":
            scan.targets.append(None)
            scan.named.append(i)
            option = options.get(_option_name(command, word).partition("=")[0])
            if option is not None:
                scan.used.add(option.name)
                left = _option_values(command, word)
                scan.pending = option if left else None
        else:
            scan.targets.append(_argument_at(arguments, len(scan.positional)))
            scan.positional.append(i)
    return scan


def prepare(resolved: Resolved) -> list[str]:
    """The words to run: keywords from fixed lists as listed, a trailing text argument joined."""
    command, head = resolved.command, list(resolved.words[: resolved.consumed])
    args = list(resolved.words[resolved.consumed :])
    if isinstance(command, TyperGroup):
        return [*head, *args]
    scan = _scan(command, args)
    args = [_listed(param, word) for param, word in zip(scan.targets, args, strict=True)]
    for i in scan.named:
        args[i] = _option_name(command, args[i])
    arguments = _arguments(command)
    if (
        not scan.separator
        and len(scan.positional) > 1
        and len(arguments) == 1
        and arguments[0].nargs == 1
        and arguments[0].type_descriptor.annotation is str
    ):
        # `utils service restart Cisco CallManager`: one text argument takes the rest.
        first, others = scan.positional[0], set(scan.positional[1:])
        args[first] = " ".join(args[i] for i in scan.positional)
        args = [word for i, word in enumerate(args) if i not in others]
    return [*head, *args]


def _listed(param: Param | None, word: str) -> str:
    choices = _choices(param)
    if word in choices:
        return word
    found = [choice for choice in choices if choice.casefold() == word.casefold()]
    return found[0] if len(found) == 1 else word


def _visible(group: TyperGroup, top: bool) -> Iterator[tuple[str, Command]]:
    ctx = Context(group)
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is not None and not sub.hidden and not (top and name in _NOT_IN_SHELL):
            yield name, sub


def _leaves(group: TyperGroup, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Every command under `group`: (`utils sipOAuth-mode enable`, short help)."""
    for name, sub in _visible(group, top=not prefix):
        if isinstance(sub, TyperGroup):
            yield from _leaves(sub, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), sub.get_short_help_str(limit=70)


# -- Running lines ------------------------------------------------------------


def _error(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


@dataclass(frozen=True, slots=True)
class Shell:
    """Runs shell lines through the command tree under `root`."""

    root: Command
    root_args: tuple[str, ...] = ()
    """The session's root options, put in front of every line."""
    prog_name: str = "sipoauth"

    def run_line(self, line: str) -> Outcome:
        """Run one line; errors are printed, never raised."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            reason = "unbalanced quotes" if "quotation" in str(exc) else "cannot split the line"
            _error(f"{reason} ({str(exc).lower()}); nothing was run")
            return Outcome.FAILED
        if not words:
            return Outcome.OK
        first = words[0].casefold()
        if first in _LEAVE:
            return Outcome.LEAVE
        if first in _HELP:
            return self.help(words[1:])
        resolved = resolve(self.root, words)
        if resolved.path and resolved.path[0] in _NOT_IN_SHELL:
            name = resolved.path[0]
            _error(f"'{name}' cannot be run inside the shell: {_NOT_IN_SHELL[name]}")
            return Outcome.FAILED
        return self._invoke(prepare(resolved))

    def help(self, words: Sequence[str]) -> Outcome:
        """`help`: the commands; `help <command…>`: that command's help."""
        if words or not isinstance(self.root, TyperGroup):
            return self._invoke([*resolve(self.root, words).words, "--help"])
        rows = [*_leaves(self.root), ("help [command…] | ?", "These commands, or one's help.")]
        rows.append(("exit | quit", "Leave the shell (or Ctrl-D)."))
        width = max(len(path) for path, _ in rows)
        typer.echo("Commands (in any case; Tab completes):")
        for path, text in rows:
            typer.echo(f"  {path.ljust(width)}  {text}".rstrip())
        return Outcome.OK

    def _invoke(self, args: list[str]) -> Outcome:
        try:
            with self.root.make_context(self.prog_name, [*self.root_args, *args]) as ctx:
                self.root.invoke(ctx)
        except typer.Exit as exc:
            return Outcome.OK if exc.exit_code == 0 else Outcome.FAILED
        except NoArgsIsHelpError as exc:  # a group without its command: its help
            if exc.format_message():  # (Typer's rich help is printed already)
                exc.show()
        except UsageError as exc:
            self._usage_error(exc)
        except typer.TyperException as exc:
            _error(exc.format_message())
        except admin.AdminError as exc:
            _error(exc.message)
        except (typer.Abort, EOFError):
            _error("aborted")
        except KeyboardInterrupt:
            typer.echo("", err=True)
            _error("interrupted")
        except SystemExit as exc:
            return Outcome.OK if exc.code in (None, 0) else Outcome.FAILED
        except Exception as exc:  # a bug: one line, and the shell goes on
            _error(f"unexpected {type(exc).__name__}: {exc}")
        else:
            return Outcome.OK
        return Outcome.FAILED

    def _usage_error(self, exc: UsageError) -> None:
        _error(exc.format_message())
        ctx = exc.ctx
        if ctx is None or ctx.parent is None:
            typer.echo("Type 'help' for the commands.", err=True)
            return
        path = ctx.command_path.partition(" ")[2]
        typer.echo(f"usage: {' '.join([path, *ctx.command.collect_usage_pieces(ctx)])}", err=True)
        typer.echo(f"Type 'help {path}' for more.", err=True)


def root_arguments(ctx: Context) -> tuple[str, ...]:
    """The root command's options as this session got them (from the line or the environment)."""
    args: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, TyperOption) or param.is_eager or not param.opts:
            continue
        value = ctx.params.get(param.name)
        if value is None:
            continue
        if param.is_flag:
            args.extend(param.opts[:1] if value else param.secondary_opts[:1])
        else:
            values = value if isinstance(value, list | tuple) else [value]
            args.extend(word for v in values for word in (param.opts[0], str(v)))
    return tuple(args)


# -- Completion and history ---------------------------------------------------


def completions(root: Command, words: Sequence[str], partial: str) -> list[tuple[str, str]]:
    """What may follow `words` and start with `partial` (any case): (text, description)."""
    at_start = not words
    help_line = bool(words) and words[0].casefold() in _HELP
    words = words[1:] if help_line else words
    resolved = resolve(root, words)
    command, folded = resolved.command, partial.casefold()
    if isinstance(command, TyperGroup):
        if resolved.consumed < len(words):
            return []
        found = [
            (name, sub.get_short_help_str())
            for name, sub in _visible(command, top=command is root)
            if name.casefold().startswith(folded)
        ]
        if at_start:
            found += [
                (word, "shell") for word in ("help", "exit", "quit") if word.startswith(folded)
            ]
        return found
    if help_line:
        return []
    scan = _scan(command, words[resolved.consumed :])
    if scan.pending is not None:
        return [(c, "") for c in _choices(scan.pending) if c.casefold().startswith(folded)]
    options = [] if scan.separator else _option_completions(command, scan.used, partial)
    if partial.startswith("-"):
        return options
    argument = _argument_at(_arguments(command), len(scan.positional))
    found = [(c, "") for c in _choices(argument) if c.casefold().startswith(folded)]
    return found + ([] if partial else options)


def _option_completions(command: Command, used: set[str], partial: str) -> list[tuple[str, str]]:
    found = []
    for param in command.params:
        if isinstance(param, TyperOption) and not param.hidden:
            if param.name in used and not param.multiple:
                continue
            found += [(opt, param.help or "") for opt in (*param.opts, *param.secondary_opts)]
    found.append(("--help", "Show the command's help."))
    return [(opt, text) for opt, text in found if opt.casefold().startswith(partial.casefold())]


def _split_for_completion(text: str) -> tuple[list[str], str]:
    try:
        words = shlex.split(text)
    except ValueError:  # an open quote: complete from the plain words
        words = text.split()
    if not words or text[-1].isspace():
        return words, ""
    return words[:-1], words[-1]


class ShellCompleter(Completer):
    """Tab completion over the command tree: names, then options and listed values."""

    def __init__(self, root: Command) -> None:
        self._root = root

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        words, partial = _split_for_completion(document.text_before_cursor)
        for text, meta in completions(self._root, words, partial):
            yield Completion(text, start_position=-len(partial), display_meta=meta)


class _WithoutSecrets(History):
    """A history that never keeps a line mentioning a password."""

    def __init__(self, inner: History) -> None:
        super().__init__()
        self._inner = inner

    def load_history_strings(self) -> Iterable[str]:
        return (s for s in self._inner.load_history_strings() if _UNSAFE_WORD not in s.casefold())

    def store_string(self, string: str) -> None:
        if _UNSAFE_WORD not in string.casefold():
            self._inner.store_string(string)

    def append_string(self, string: str) -> None:
        if _UNSAFE_WORD not in string.casefold():
            super().append_string(string)


def shell_history(home: Path | None) -> History:
    """History in `home`/.sipoauth_history (mode 0600) if `home` is writable, else in memory."""
    inner: History = InMemoryHistory()
    if home is not None and os.access(home, os.W_OK):
        path = home / HISTORY_FILE
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        except OSError:
            pass
        else:
            inner = FileHistory(str(path))
    return _WithoutSecrets(inner)


def _home() -> Path | None:
    try:
        return Path.home()
    except (RuntimeError, KeyError):
        return None


# -- The loops ----------------------------------------------------------------


def run_interactive(shell: Shell, session: PromptSession[str] | None = None) -> None:
    """Prompt until `exit`, `quit` or Ctrl-D; Ctrl-C drops the line being typed."""
    if session is None:
        session = PromptSession(
            history=shell_history(_home()), completer=ShellCompleter(shell.root)
        )
    while True:
        try:
            line = session.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
        if shell.run_line(line) is Outcome.LEAVE:
            return


def run_script(shell: Shell, stream: TextIO) -> bool:
    """Run `stream` line by line as typed at the prompt; whether every command succeeded."""
    ok = True
    while raw := stream.readline():
        line = raw.rstrip("\r\n")
        typer.echo(f"{PROMPT}{line}")
        outcome = shell.run_line(line)
        if outcome is Outcome.LEAVE:
            break
        ok = ok and outcome is Outcome.OK
    return ok
