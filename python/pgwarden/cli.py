"""The `pgwarden` command.

Each command group lives in its own module exposing ``register(subparsers)``;
the parser is built by :func:`build_parser` so tests (and shell completion)
can drive it directly.  The conventions every command follows (global
options, output, exit codes, confirmation) live in :mod:`pgwarden._cli_util`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import psycopg

from . import __version__, errors
from ._cli_util import (
    EXIT_FAILED,
    EXIT_SERVER,
    EXIT_USAGE,
    CommandError,
    Parser,
    check_dsn,
    cli_hint,
    environ_flag,
    finish_namespace,
    say,
    server_messages_on_stderr,
)

#: Modules under pgwarden/ that add command groups, in help order.
COMMAND_MODULES = (
    "cmd_password",
    "cmd_install",
    "cmd_branches",
    "cmd_endpoints",
    "cmd_roles",
    "cmd_project",
    "cmd_ipallow",
    "cmd_tls",
    "cmd_connstr",
    "cmd_audit",
    "cmd_status",
    "cmd_completion",
)

DESCRIPTION = """\
Managed-Postgres security for self-hosted PostgreSQL: strong passwords, the IP
allowlist, TLS, protected branches.

Global options work before or after the command. Results go to standard
output; errors, server notices, progress and summaries to standard error.
Exit status: 0 done, 1 a check said no or the thing named does not exist,
2 bad arguments or input (a malformed --dsn, a missing --yes), 3 the server
refused or could not be reached."""


def build_parser() -> Parser:
    parser = Parser(prog="pgwarden", description=DESCRIPTION,
                    epilog="examples:\n  pgwarden --dsn 'dbname=control' branches list -o json\n"
                           "  pgwarden branches delete dev --yes\n"
                           "  pgwarden completion bash > /etc/bash_completion.d/pgwarden")
    parser.add_argument("--version", action="version", version=f"pgwarden {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"pgwarden.{name}").register(sub)
    return parser


#: Exit status for each pgwarden error class (the first match wins).
EXIT_FOR: tuple[tuple[type[errors.PgwardenError], int], ...] = (
    (errors.NotFound, EXIT_FAILED),
    (errors.UnsafeCopyError, EXIT_FAILED),
    (errors.CarryError, EXIT_FAILED),
    (errors.NotInstalledError, EXIT_FAILED),
    (errors.PgwardenError, EXIT_SERVER),
)


def _report(message: str, *, sqlstate: str | None, detail: str | None, hint: str | None,
            output: str) -> None:
    if output == "json":
        json.dump({"error": message, "sqlstate": sqlstate, "detail": detail, "hint": hint},
                  sys.stderr)
        sys.stderr.write("\n")
        return
    say("error", f"{sqlstate}: {message}" if sqlstate else message, detail=detail, hint=hint)


def _explain(exc: errors.PgwardenError, args: argparse.Namespace) -> tuple[str, str | None, int]:
    """A sentence saying what to do for the setup mistakes people make most."""
    from ._diagnose import explain
    return explain(exc, args.dsn)


def run(args: argparse.Namespace) -> int:
    """Run a parsed command: every failure becomes a message and an exit status."""
    output = getattr(args, "output", "table")
    try:
        check_dsn(args.dsn)
        with server_messages_on_stderr(args.quiet):
            code: int = args.func(args)
        return code
    except CommandError as exc:
        _report(exc.message, sqlstate=exc.sqlstate, detail=exc.detail, hint=exc.hint,
                output=output)
        return exc.code
    except (errors.PgwardenError, psycopg.Error) as raw:
        failure = errors.from_psycopg(raw) if isinstance(raw, psycopg.Error) else raw
        message, hint, code = _explain(failure, args)
        _report(message, sqlstate=failure.sqlstate, detail=failure.detail,
                hint=cli_hint(hint), output=output)
        return code
    except EOFError:
        _report("no answer (end of input): nothing was changed", sqlstate=None, detail=None,
                hint=None, output=output)
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        _report("interrupted", sqlstate=None, detail=None, hint=None, output=output)
        return 130
    except BrokenPipeError:
        return EXIT_FAILED
    except (OSError, ValueError) as exc:
        if environ_flag("PGWARDEN_DEBUG"):
            raise
        _report(str(exc) or type(exc).__name__, sqlstate=None, detail=None, hint=None,
                output=output)
        return EXIT_USAGE
    except Exception as exc:  # a bug: one line, not a traceback
        if environ_flag("PGWARDEN_DEBUG"):
            raise
        _report(f"internal error: {type(exc).__name__}: {exc}", sqlstate=None, detail=None,
                hint="PGWARDEN_DEBUG=1 shows the traceback; please report it", output=output)
        return EXIT_SERVER


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("PGAPPNAME", "pgwarden")  # its sessions, and pg_dump's, say who they are
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    output = "json" if _wants_json(argv) else "table"
    try:
        args = finish_namespace(parser.parse_args(argv))
    except CommandError as exc:
        _report(exc.message, sqlstate=None, detail=exc.detail, hint=exc.hint, output=output)
        return exc.code
    return run(args)


def _wants_json(argv: Sequence[str]) -> bool:
    """--output json seen before parsing (so that usage errors are JSON too)."""
    for i, word in enumerate(argv):
        if word in ("-o", "--output") and i + 1 < len(argv) and argv[i + 1] == "json":
            return True
        if word in ("--output=json", "-ojson"):
            return True
    return False


def entry_point() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
