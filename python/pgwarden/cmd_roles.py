"""`pgwarden roles list --branch B`: branch credentials (never their passwords)."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_util import EXIT_OK, add_listing_arguments, print_rows
from .branches import Project
from .cmd_branches import helper_errors


def register(sub: Any) -> None:
    p = sub.add_parser("roles", help="branch roles (credentials of children of protected branches)")
    rsub = p.add_subparsers(dest="roles_command", required=True, metavar="ACTION")
    lst = rsub.add_parser("list", help="list branch roles")
    lst.add_argument("--branch", help="only this branch's roles")
    add_listing_arguments(lst)
    lst.set_defaults(func=cmd_list)


@helper_errors
def cmd_list(args: argparse.Namespace) -> int:
    rows = [r.as_dict() for r in Project(args.dsn).branch_roles(args.branch)]
    print_rows(rows, ("role", "branch", "database", "parent_role", "created_at"), args.output)
    return EXIT_OK
