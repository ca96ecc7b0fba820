"""`pgwarden project delete`: drop every branch and the extension."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._cli_util import EXIT_OK, add_command, add_group, confirm, print_record, summary
from .branches import Project


def register(sub: Any) -> None:
    psub = add_group(sub, "project", dest="project_command",
                     help="the pgwarden project of this cluster")
    delete = add_command(
        psub, "delete",
        help="drop every branch database and the pgwarden extension "
             "(refused while any branch is protected; asks first)",
        example=["pgwarden project delete", "pgwarden project delete --yes"])
    delete.set_defaults(func=cmd_delete)


def cmd_delete(args: argparse.Namespace) -> int:
    with Project(args.dsn) as project:
        names = [b.name for b in project.branches()]
        with project.connect() as conn:
            row = conn.execute("SELECT current_database() AS db").fetchone()
        control = row["db"] if row else "?"
        children = [n for n in names if n != control]
        confirm(args, f"drop {len(children)} branch databases ({', '.join(children) or 'none'}) "
                      f'and the pgwarden extension of database "{control}"')
        started = time.monotonic()
        dropped = project.delete_project()
    seconds = time.monotonic() - started
    if args.output == "json":
        print_record({"deleted_branches": dropped, "extension_dropped": True,
                      "seconds": round(seconds, 3)}, "json")
    else:
        for name in dropped:
            print(f"deleted branch {name}")
        print("dropped extension pgwarden")
    summary(args, f"deleted the project: {len(dropped)} branches and the extension "
                  f"in {seconds:.1f} s")
    return EXIT_OK
