"""Pieces every `pgwarden` command shares: connecting, printing, exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import psycopg

#: Exit codes of the `pgwarden` command.
EXIT_OK = 0
EXIT_FAILED = 1  # the check ran and said no (weak password, missing install, ...)
EXIT_USAGE = 2  # bad arguments or input
EXIT_SERVER = 3  # the server refused or could not be reached


class CommandError(Exception):
    """An error to report on stderr with an exit code, without a traceback."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def add_dsn_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        default="",
        help="libpq connection string or URI (default: the PG* environment variables)",
    )


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=("table", "json"), default="table")


def add_listing_arguments(parser: argparse.ArgumentParser) -> None:
    """--dsn and --output, for commands that read from a server and print rows."""
    add_dsn_argument(parser)
    add_output_argument(parser)


def connect(dsn: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn, autocommit=autocommit)
    except psycopg.Error as exc:
        raise CommandError(f"could not connect: {exc}".strip(), EXIT_SERVER) from exc


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: str) -> None:
    """Print rows as an aligned table or as a JSON array."""
    if output == "json":
        json.dump(list(rows), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
