"""`pgwarden roles list --branch B`: branch credentials (never their passwords)."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_util import EXIT_OK, add_command, add_group, print_rows
from .branches import Project

ROLE_COLUMNS = ("role", "branch", "database", "parent_role", "created_at")


def register(sub: Any) -> None:
    rsub = add_group(sub, "roles", dest="roles_command",
                     help="branch roles (credentials of children of protected branches)")
    lst = add_command(rsub, "list", help="list branch roles",
                      example=["pgwarden roles list", "pgwarden roles list --branch dev -o json"])
    lst.add_argument("--branch", help="only this branch's roles")
    lst.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    rows = [r.as_dict() for r in Project(args.dsn).branch_roles(args.branch)]
    print_rows(rows, ROLE_COLUMNS, args.output)
    return EXIT_OK
