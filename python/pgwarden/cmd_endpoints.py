"""`pgwarden endpoints list|create|suspend|resume|set-limit|delete`."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_util import (
    EXIT_OK,
    CommandError,
    add_dsn_argument,
    add_listing_arguments,
    print_rows,
)
from .branches import Endpoint, Project
from .cmd_branches import helper_errors

ENDPOINT_COLUMNS = ("name", "branch", "database", "kind", "max_connections", "suspended",
                    "is_default", "created_at")


def register(sub: Any) -> None:
    p = sub.add_parser("endpoints", help="endpoints (computes) of branches")
    esub = p.add_subparsers(dest="endpoints_command", required=True, metavar="ACTION")

    lst = esub.add_parser("list", help="list endpoints")
    lst.add_argument("--branch", help="only this branch's endpoints")
    add_listing_arguments(lst)
    lst.set_defaults(func=cmd_list)

    create = esub.add_parser("create", help="add an endpoint to a branch")
    create.add_argument("branch")
    create.add_argument("name")
    create.add_argument("--kind", choices=("read_write", "read_only"), default="read_write")
    create.add_argument("--max-connections", type=int)
    add_listing_arguments(create)
    create.set_defaults(func=cmd_create)

    for action, helptext in (("suspend", "refuse new connections through an endpoint"),
                             ("resume", "accept connections through an endpoint again")):
        a = esub.add_parser(action, help=helptext)
        a.add_argument("name")
        add_listing_arguments(a)
        a.set_defaults(func=cmd_state, action=action)

    limit = esub.add_parser("set-limit", help="change an endpoint's connection limit")
    limit.add_argument("name")
    limit.add_argument("max_connections", help="a positive number, or 'none'")
    add_listing_arguments(limit)
    limit.set_defaults(func=cmd_set_limit)

    delete = esub.add_parser("delete", help="drop an endpoint (refused on protected branches)")
    delete.add_argument("name")
    add_dsn_argument(delete)
    delete.set_defaults(func=cmd_delete)


def _print(endpoints: list[Endpoint], output: str) -> None:
    print_rows([e.as_dict() for e in endpoints], ENDPOINT_COLUMNS, output)


@helper_errors
def cmd_list(args: argparse.Namespace) -> int:
    _print(Project(args.dsn).endpoints(args.branch), args.output)
    return EXIT_OK


@helper_errors
def cmd_create(args: argparse.Namespace) -> int:
    e = Project(args.dsn).create_endpoint(args.branch, args.name, args.kind, args.max_connections)
    _print([e], args.output)
    return EXIT_OK


@helper_errors
def cmd_state(args: argparse.Namespace) -> int:
    project = Project(args.dsn)
    if args.action == "suspend":
        e = project.suspend_endpoint(args.name)
    else:
        e = project.resume_endpoint(args.name)
    _print([e], args.output)
    return EXIT_OK


@helper_errors
def cmd_set_limit(args: argparse.Namespace) -> int:
    value: int | None
    if args.max_connections.lower() == "none":
        value = None
    else:
        try:
            value = int(args.max_connections)
        except ValueError as exc:
            raise CommandError("max_connections must be a number or 'none'") from exc
    _print([Project(args.dsn).set_endpoint_limit(args.name, value)], args.output)
    return EXIT_OK


@helper_errors
def cmd_delete(args: argparse.Namespace) -> int:
    Project(args.dsn).drop_endpoint(args.name)
    print(f"deleted endpoint {args.name}")
    return EXIT_OK
