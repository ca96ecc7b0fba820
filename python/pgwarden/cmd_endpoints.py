"""`pgwarden endpoints list|create|suspend|resume|set-limit|delete`."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_util import (
    EXIT_OK,
    CommandError,
    add_command,
    add_group,
    print_record,
    print_rows,
)
from .branches import ENDPOINT_KINDS, Endpoint, Project

ENDPOINT_COLUMNS = ("name", "branch", "database", "kind", "max_connections", "suspended",
                    "is_default", "created_at")


def register(sub: Any) -> None:
    esub = add_group(sub, "endpoints", dest="endpoints_command",
                     help="endpoints (computes) of branches")

    lst = add_command(esub, "list", help="list endpoints",
                      example=["pgwarden endpoints list",
                               "pgwarden endpoints list --branch dev -o json"])
    lst.add_argument("--branch", help="only this branch's endpoints")
    lst.set_defaults(func=cmd_list)

    create = add_command(esub, "create", help="add an endpoint to a branch",
                         example="pgwarden endpoints create dev dev-ro --kind read_only "
                                 "--max-connections 10")
    create.add_argument("branch")
    create.add_argument("name")
    create.add_argument("--kind", choices=ENDPOINT_KINDS, default="read_write")
    create.add_argument("--max-connections", type=int)
    create.set_defaults(func=cmd_create)

    for action, helptext in (("suspend", "refuse new connections through an endpoint"),
                             ("resume", "accept connections through an endpoint again")):
        a = add_command(esub, action, help=helptext, example=f"pgwarden endpoints {action} dev-ro")
        a.add_argument("name")
        a.set_defaults(func=cmd_state, action=action)

    limit = add_command(esub, "set-limit", help="change an endpoint's connection limit",
                        example=["pgwarden endpoints set-limit dev-ro 20",
                                 "pgwarden endpoints set-limit dev-ro none"])
    limit.add_argument("name")
    limit.add_argument("max_connections", help="a positive number, or 'none'")
    limit.set_defaults(func=cmd_set_limit)

    delete = add_command(esub, "delete",
                         help="drop an endpoint (refused on protected branches)",
                         example="pgwarden endpoints delete dev-ro")
    delete.add_argument("name")
    delete.set_defaults(func=cmd_delete)


def _print(endpoint: Endpoint, output: str) -> None:
    print_record(endpoint.as_dict(), output, ENDPOINT_COLUMNS)


def cmd_list(args: argparse.Namespace) -> int:
    print_rows([e.as_dict() for e in Project(args.dsn).endpoints(args.branch)], ENDPOINT_COLUMNS,
               args.output)
    return EXIT_OK


def cmd_create(args: argparse.Namespace) -> int:
    _print(Project(args.dsn).create_endpoint(args.branch, args.name, args.kind,
                                             args.max_connections), args.output)
    return EXIT_OK


def cmd_state(args: argparse.Namespace) -> int:
    project = Project(args.dsn)
    if args.action == "suspend":
        e = project.suspend_endpoint(args.name)
    else:
        e = project.resume_endpoint(args.name)
    _print(e, args.output)
    return EXIT_OK


def cmd_set_limit(args: argparse.Namespace) -> int:
    value: int | None
    if args.max_connections.lower() == "none":
        value = None
    else:
        try:
            value = int(args.max_connections)
        except ValueError as exc:
            raise CommandError("max_connections must be a number or 'none'") from exc
    _print(Project(args.dsn).set_endpoint_limit(args.name, value), args.output)
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    Project(args.dsn).drop_endpoint(args.name)
    if args.output == "json":
        print_record({"endpoint": args.name, "deleted": True}, "json")
    else:
        print(f"deleted endpoint {args.name}")
    return EXIT_OK

