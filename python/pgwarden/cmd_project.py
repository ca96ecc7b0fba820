"""`pgwarden project delete`: drop every branch and the extension."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_util import EXIT_OK, CommandError, add_dsn_argument
from .branches import Project
from .cmd_branches import helper_errors


def register(sub: Any) -> None:
    p = sub.add_parser("project", help="the pgwarden project of this cluster")
    psub = p.add_subparsers(dest="project_command", required=True, metavar="ACTION")
    delete = psub.add_parser(
        "delete",
        help="drop every branch database and the pgwarden extension "
             "(refused while any branch is protected)")
    delete.add_argument("--yes", action="store_true", help="confirm: this drops databases")
    add_dsn_argument(delete)
    delete.set_defaults(func=cmd_delete)


@helper_errors
def cmd_delete(args: argparse.Namespace) -> int:
    if not args.yes:
        raise CommandError("project delete drops every branch database; pass --yes to confirm")
    dropped = Project(args.dsn).delete_project()
    for name in dropped:
        print(f"deleted branch {name}")
    print("dropped extension pgwarden")
    return EXIT_OK
