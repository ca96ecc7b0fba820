"""The `pgwarden` command.

Each command group lives in its own module exposing ``register(subparsers)``;
the parser is built by :func:`build_parser` so tests can drive it directly.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import psycopg

from . import __version__
from ._cli_util import EXIT_SERVER, CommandError

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
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgwarden",
        description="Managed-Postgres security for self-hosted PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"pgwarden {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"pgwarden.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except CommandError as exc:
        print(f"pgwarden: {exc}", file=sys.stderr)
        return exc.code
    except psycopg.Error as exc:
        diag = exc.diag
        msg = diag.message_primary or str(exc)
        print(f"pgwarden: {diag.sqlstate or 'error'}: {msg}", file=sys.stderr)
        if diag.message_detail:
            print(f"DETAIL: {diag.message_detail}", file=sys.stderr)
        if diag.message_hint:
            print(f"HINT: {diag.message_hint}", file=sys.stderr)
        return EXIT_SERVER
    return code


if __name__ == "__main__":
    sys.exit(main())
