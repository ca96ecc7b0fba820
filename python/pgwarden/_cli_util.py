"""What every `pgwarden` command shares: the parser, global options, connecting,
output (tables and JSON), messages on stderr, confirmation and exit codes.

Conventions (README.md, "The pgwarden command"):

- Global options work before or after the command: ``--dsn``, ``-o/--output
  table|json``, ``-q/--quiet``, ``-y/--yes``.  :class:`Parser` adds them to
  every parser, with suppressed defaults so that a value given anywhere wins;
  :func:`finish_namespace` fills in the defaults afterwards.
- Standard output carries the result only; everything else (errors, server
  NOTICEs and WARNINGs, progress, summaries) goes to standard error, each
  line prefixed ``pgwarden: <severity>:`` like the server's messages, with
  ``DETAIL:`` and ``HINT:`` lines after it.
- ``--output json``: one object for one thing, an array for a listing, ISO
  8601 timestamps, JSON booleans and nulls; errors are one JSON object on
  standard error: ``{"error", "sqlstate", "detail", "hint"}``.
- Exit codes: :data:`EXIT_OK`, :data:`EXIT_FAILED`, :data:`EXIT_USAGE`,
  :data:`EXIT_SERVER`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import decimal
import json
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn

import psycopg
from psycopg.conninfo import conninfo_to_dict

from . import errors

#: Exit codes of the `pgwarden` command.
EXIT_OK = 0
EXIT_FAILED = 1  # a check said no, or the thing named does not exist
EXIT_USAGE = 2  # bad arguments or input: usage, a malformed DSN, a missing --yes
EXIT_SERVER = 3  # the server refused or could not be reached

OUTPUTS = ("table", "json")

#: Global options and their defaults (every parser has them).
GLOBAL_DEFAULTS: dict[str, Any] = {"dsn": "", "output": "table", "quiet": False, "yes": False}


class CommandError(Exception):
    """An error to report on stderr with an exit code, without a traceback."""

    def __init__(self, message: str, code: int = EXIT_USAGE, *, hint: str | None = None,
                 detail: str | None = None, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
        self.detail = detail
        self.sqlstate = sqlstate


# --------------------------------------------------------------------------- messages
def say(severity: str, message: str, *, detail: str | None = None, hint: str | None = None,
        stream: IO[str] | None = None) -> None:
    """One message on stderr in the command's single style::

        pgwarden: warning: new connections from this session's address will be refused
        DETAIL: ...
        HINT: ...
    """
    out = stream or sys.stderr
    lines = [f"pgwarden: {severity}: {message}" if severity else f"pgwarden: {message}"]
    if detail:
        lines.append(f"DETAIL: {detail}")
    if hint:
        lines.append(f"HINT: {hint}")
    out.write("\n".join(lines) + "\n")
    out.flush()


#: The server's HINTs name SQL; the command names its own commands too.
_HINT_REWRITES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"SELECT pgwarden\.unprotect_branch\('((?:[^']|'')*)'\);?"),
     lambda m: (f"pgwarden branches unprotect {shell_quote(m.group(1).replace(chr(39) * 2, chr(39)))}"
                f" (SQL: {m.group(0)})")),
    (re.compile(r"SELECT pgwarden\.unprotect_branch\(name\)\.?"),
     lambda m: "pgwarden branches unprotect NAME (SQL: SELECT pgwarden.unprotect_branch(name))"),
    (re.compile(r"SELECT name FROM pgwarden\.branches lists the branches\."),
     lambda m: "pgwarden branches list shows the branches."),
    (re.compile(r"SELECT name, branch FROM pgwarden\.endpoints lists the endpoints\."),
     lambda m: "pgwarden endpoints list shows the endpoints."),
    (re.compile(r"SELECT pgwarden\.suspend_endpoint\(name\);?"),
     lambda m: "pgwarden endpoints suspend NAME"),
    (re.compile(r"Add an entry covering your address first, or pass force => true to "
                r"(remove them|reset it|reset the allowlist) anyway\."),
     lambda m: (f"Add an entry covering your address first (pgwarden ip-allow add ADDRESS), "
                f"or pass --force to {m.group(1)} anyway.")),
    (re.compile(r"pass force => true"), lambda m: "pass --force"),
    (re.compile(r"or pass role => NULL for an entry that applies to every role\."),
     lambda m: "or leave out --role for an entry that applies to every role."),
]


def cli_hint(hint: str | None) -> str | None:
    """A server HINT with the matching `pgwarden` command named.

    >>> cli_hint("Unprotect it first: SELECT pgwarden.unprotect_branch('main');")
    "Unprotect it first: pgwarden branches unprotect main (SQL: SELECT pgwarden.unprotect_branch('main');)"
    """
    if not hint:
        return hint
    for pattern, repl in _HINT_REWRITES:
        hint = pattern.sub(repl, hint)
    return hint


def shell_quote(word: str) -> str:
    """Quote a word for a shell only when it needs it."""
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


# --------------------------------------------------------------------------- parser
def _global_options() -> argparse.ArgumentParser:
    """The one parent parser of every parser: the global options.

    Their defaults are suppressed, so that a value given before the command
    is not reset by a subcommand's parser; :func:`finish_namespace` fills in
    :data:`GLOBAL_DEFAULTS` afterwards."""
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group("global options (before or after the command)")
    g.add_argument("--dsn", default=argparse.SUPPRESS, metavar="DSN",
                   help="libpq connection string or URI of the control database "
                        "(default: the PG* environment variables)")
    g.add_argument("-o", "--output", choices=OUTPUTS, default=argparse.SUPPRESS,
                   help="table (default) for people, json for programs")
    g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress, notices or summaries on standard error")
    g.add_argument("-y", "--yes", action="store_true", default=argparse.SUPPRESS,
                   help="do destructive actions without asking")
    return parent


GLOBAL_OPTIONS = _global_options()


class Parser(argparse.ArgumentParser):
    """An argparse parser with :data:`GLOBAL_OPTIONS` as parent and pgwarden's
    error style.

    Subparsers are of this class too (``parser_class``), so every command and
    group accepts the global options, before or after its own arguments.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs["parents"] = [*kwargs.get("parents", ()), GLOBAL_OPTIONS]
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise CommandError(message, EXIT_USAGE, hint=f"{self.prog} --help shows the usage")


def finish_namespace(args: argparse.Namespace) -> argparse.Namespace:
    for key, value in GLOBAL_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    return args


def add_command(sub: Any, name: str, *, help: str, example: str | Sequence[str],
                description: str | None = None, **kwargs: Any) -> Parser:
    """A subcommand whose ``--help`` ends with examples (each a full command line)."""
    examples = [example] if isinstance(example, str) else list(example)
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    parser: Parser = sub.add_parser(name, help=help, description=description or help,
                                    epilog=epilog, **kwargs)
    parser.set_defaults(_examples=tuple(examples))
    return parser


def add_group(sub: Any, name: str, *, help: str, dest: str,
              description: str | None = None) -> Any:
    """A command group (``pgwarden branches ...``) and the subparsers of its actions."""
    parser: Parser = sub.add_parser(name, help=help, description=description or help)
    return parser.add_subparsers(dest=dest, required=True, metavar="ACTION", parser_class=Parser)


def add_dsn_argument(parser: argparse.ArgumentParser) -> None:
    """--dsn is a global option of every parser (:class:`Parser`); nothing to add."""


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    """--output is a global option of every parser (:class:`Parser`); nothing to add."""


def add_listing_arguments(parser: argparse.ArgumentParser) -> None:
    """--dsn and --output are global options of every parser; nothing to add."""


def bool_argument(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "on", "yes", "1"):
        return True
    if value in ("false", "off", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


# --------------------------------------------------------------------------- DSN, connecting
def check_dsn(dsn: str) -> None:
    """A malformed DSN is bad input (exit 2); the message never repeats its text."""
    if not dsn:
        return
    try:
        conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        reason = re.sub(r'"[^"]*"', "…", str(exc).strip().splitlines()[0] if str(exc) else "")
        raise CommandError(f"--dsn is not a valid connection string or URI ({reason})",
                           EXIT_USAGE,
                           hint='use key=value pairs ("host=db.example.com dbname=control") or '
                                "a postgresql:// URI") from None


def connect(dsn: str, *, autocommit: bool = True,
            quiet: bool = False) -> psycopg.Connection[Any]:
    """A connection whose NOTICEs and WARNINGs reach stderr (through
    :func:`server_messages_on_stderr`, which the command runs under)."""
    check_dsn(dsn)
    try:
        conn = psycopg.connect(dsn, autocommit=autocommit)
    except psycopg.Error as exc:
        raise errors.from_psycopg(exc) from None
    return errors.attach(conn)


@contextmanager
def server_messages_on_stderr(quiet: bool) -> Iterator[None]:
    """Route the Python API's server messages (warnings, logging) to stderr."""
    import logging
    import warnings

    def showwarning(message: Warning | str, category: type[Warning], filename: str,
                    lineno: int, file: Any = None, line: str | None = None) -> None:
        if isinstance(message, errors.ServerWarning):
            say("warning", message.message, detail=message.detail, hint=cli_hint(message.hint))
        else:
            say("warning", str(message))

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            diag = getattr(record, "pgwarden_diag", None)
            severity = str(getattr(record, "pgwarden_severity", "notice"))
            if diag is not None:
                say(severity, record.getMessage(), detail=diag.get("detail"),
                    hint=cli_hint(diag.get("hint")))
            else:
                say(severity, record.getMessage())

    logger = logging.getLogger("pgwarden.server")
    handler = Handler(logging.DEBUG if not quiet else logging.CRITICAL + 1)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", errors.ServerWarning)
            warnings.showwarning = showwarning
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


# --------------------------------------------------------------------------- confirmation
def confirm(args: argparse.Namespace, action: str, *, stdin: IO[str] | None = None) -> None:
    """Ask before a destructive action: on a terminal a y/N question, otherwise
    ``--yes`` is required (exit 2 without it).  Declining exits 1."""
    if getattr(args, "yes", False):
        return
    inp = stdin or sys.stdin
    if not (inp.isatty() and sys.stderr.isatty()):
        raise CommandError(f"refusing to {action} without confirmation", EXIT_USAGE,
                           hint="pass --yes to confirm (standard input is not a terminal)")
    try:
        # The prompt is written inside the try: a Ctrl-C typed as soon as it
        # shows, before readline() starts, is still a cancellation.
        sys.stderr.write(f"pgwarden: this will {action}.\nContinue? [y/N] ")
        sys.stderr.flush()
        answer = inp.readline()
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise CommandError("cancelled: nothing was changed", EXIT_FAILED) from None
    if not answer:
        sys.stderr.write("\n")
        raise CommandError("no answer (end of input): nothing was changed", EXIT_USAGE)
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandError("cancelled: nothing was changed", EXIT_FAILED)


# --------------------------------------------------------------------------- output
def to_json(value: Any) -> Any:
    """Plain JSON values: ISO 8601 timestamps, numbers, lists, objects."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "as_dict"):
        return to_json(value.as_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    return str(value)


def print_json(value: Any) -> None:
    json.dump(to_json(value), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def cell(value: Any) -> str:
    """A table cell: yes/no, short timestamps, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d)?",
                                               value):
        return cell(dt.datetime.fromisoformat(value))
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value)
    return str(value)


def human_size(n: float) -> str:
    """Bytes with a unit (binary multiples), as pg_size_pretty does.

    >>> human_size(1536), human_size(52428800)
    ('1.5 kB', '50.0 MB')
    """
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def print_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], output: str) -> None:
    """A listing: an aligned table, or a JSON array of every field."""
    if output == "json":
        print_json(list(rows))
        return
    print_table(rows, columns)


def print_record(record: Mapping[str, Any], output: str, columns: Sequence[str] | None = None) -> None:
    """One thing: ``field: value`` lines, or a JSON object."""
    if output == "json":
        print_json(record)
        return
    keys = list(columns or record.keys())
    width = max((len(k) for k in keys), default=0)
    for k in keys:
        print(f"{k + ':':<{width + 1}} {cell(record.get(k))}".rstrip())


def summary(args: argparse.Namespace, text: str) -> None:
    """What a long command did and how long it took, on stderr (not with --quiet)."""
    if not getattr(args, "quiet", False):
        say("", text)


def wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, 78))


def environ_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
