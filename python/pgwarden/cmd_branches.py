"""`pgwarden branches create|list|get|register|protect|unprotect|reset|delete`."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

from ._cli_util import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SERVER,
    CommandError,
    add_dsn_argument,
    add_listing_arguments,
    print_rows,
)
from .branches import STRATEGIES, Branch, Project, UnsafeCopyError, escape_option_value

BRANCH_COLUMNS = ("name", "database", "parent", "protected", "created_at", "parent_lsn",
                  "strategy", "endpoints", "state")


Command = Callable[[argparse.Namespace], int]


def helper_errors(func: Command) -> Command:
    """Report the helpers' own errors (unknown names, bad values, a failed
    pg_dump/pg_restore) like every other command error, without a traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (LookupError, ValueError, UnsafeCopyError) as exc:
            raise CommandError(str(exc).strip("'\""), EXIT_FAILED) from exc
        except RuntimeError as exc:
            raise CommandError(str(exc), EXIT_SERVER) from exc

    return run


def register(sub: Any) -> None:
    p = sub.add_parser("branches", help="create, list, protect, reset and delete branches")
    bsub = p.add_subparsers(dest="branches_command", required=True, metavar="ACTION")

    create = bsub.add_parser("create", help="copy a branch into a new child branch")
    create.add_argument("name", help="name of the new branch")
    create.add_argument("--parent", required=True, help="branch to copy")
    create.add_argument("--database", help="database name (default: the branch name)")
    create.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="template: CREATE DATABASE ... TEMPLATE (nobody may be connected "
                             "to the parent); online: snapshot-consistent pg_dump/pg_restore "
                             "while the parent stays in use; auto: template when the parent "
                             "is idle, else online (default)")
    create.add_argument("--jobs", type=int, default=1, help="parallel jobs of an online copy")
    create.add_argument("--quiet", action="store_true", help="no progress on standard error")
    add_listing_arguments(create)
    create.set_defaults(func=cmd_create)

    lst = bsub.add_parser("list", help="list the branches")
    add_listing_arguments(lst)
    lst.set_defaults(func=cmd_list)

    get = bsub.add_parser("get", help="show one branch")
    get.add_argument("name")
    add_listing_arguments(get)
    get.set_defaults(func=cmd_get)

    reg = bsub.add_parser("register", help="make an existing database a branch")
    reg.add_argument("database")
    reg.add_argument("--parent", help="parent branch (default: a root branch)")
    reg.add_argument("--name", help="branch name (default: the database name)")
    add_listing_arguments(reg)
    reg.set_defaults(func=cmd_register)

    for action, helptext in (("protect", "protect a branch"),
                             ("unprotect", "lift the protection of a branch")):
        a = bsub.add_parser(action, help=helptext)
        a.add_argument("name")
        add_listing_arguments(a)
        a.set_defaults(func=cmd_protect, protect=action == "protect")

    reset = bsub.add_parser("reset", help="replace a branch's contents with a fresh copy of "
                                          "its parent (keeps name, endpoints, credentials)")
    reset.add_argument("name")
    reset.add_argument("--strategy", choices=STRATEGIES, default="auto")
    reset.add_argument("--jobs", type=int, default=1)
    reset.add_argument("--quiet", action="store_true")
    add_listing_arguments(reset)
    reset.set_defaults(func=cmd_reset)

    carry = bsub.add_parser("carry-privileges",
                            help="give each branch role, inside its branch, the ownership and "
                                 "grants its parent role holds there (done by create and "
                                 "reset; repairs branches made by pgwarden 0.1.0)")
    carry.add_argument("name")
    add_dsn_argument(carry)
    carry.set_defaults(func=cmd_carry)

    delete = bsub.add_parser("delete", help="drop a branch, its endpoints and its branch roles")
    delete.add_argument("name")
    add_dsn_argument(delete)
    delete.set_defaults(func=cmd_delete)


def _progress(args: argparse.Namespace) -> Any:
    if args.quiet:
        return None
    last: dict[str, int] = {}

    def report(phase: str, done: int, total: int) -> None:
        if last.get(phase) == done:
            return
        last[phase] = done
        shown = f"{done}/{total}" if total else str(done)
        print(f"pgwarden: {phase}: {shown}", file=sys.stderr, flush=True)

    return report


def print_branches(branches: list[Branch], output: str) -> None:
    rows = [b.as_dict() for b in branches]
    if output == "table":
        for r in rows:
            r["endpoints"] = ",".join(r["endpoints"])
    print_rows(rows, BRANCH_COLUMNS, output)


@helper_errors
def cmd_create(args: argparse.Namespace) -> int:
    project = Project(args.dsn)
    result = project.create_branch(args.name, args.parent, database=args.database,
                                   strategy=args.strategy, jobs=args.jobs,
                                   progress=_progress(args))
    creds = [c.as_dict() for c in result.credentials]
    if args.output == "json":
        out = {"branch": result.branch.as_dict(), "strategy": result.strategy,
               "seconds": round(result.seconds, 3), "credentials": creds}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    print_branches([result.branch], "table")
    print(f"\ncopied with {result.strategy} in {result.seconds:.2f} s")
    if creds:
        print("\nbranch credentials (shown once; store them now):")
        print_rows(creds, ("role", "parent_role", "uri"), "table")
    return EXIT_OK


@helper_errors
def cmd_list(args: argparse.Namespace) -> int:
    print_branches(Project(args.dsn).branches(), args.output)
    return EXIT_OK


@helper_errors
def cmd_get(args: argparse.Namespace) -> int:
    print_branches([Project(args.dsn).branch(args.name)], args.output)
    return EXIT_OK


@helper_errors
def cmd_register(args: argparse.Namespace) -> int:
    b = Project(args.dsn).register_branch(args.database, args.parent, args.name)
    print_branches([b], args.output)
    return EXIT_OK


@helper_errors
def cmd_protect(args: argparse.Namespace) -> int:
    project = Project(args.dsn)
    b = project.protect(args.name) if args.protect else project.unprotect(args.name)
    print_branches([b], args.output)
    return EXIT_OK


@helper_errors
def cmd_reset(args: argparse.Namespace) -> int:
    b = Project(args.dsn).reset_branch(args.name, strategy=args.strategy, jobs=args.jobs,
                                       progress=_progress(args))
    print_branches([b], args.output)
    return EXIT_OK


@helper_errors
def cmd_carry(args: argparse.Namespace) -> int:
    n = Project(args.dsn).carry_privileges(args.name)
    print(f"branch {args.name}: {n} statements carried the parent roles' privileges")
    return EXIT_OK


@helper_errors
def cmd_delete(args: argparse.Namespace) -> int:
    Project(args.dsn).delete_branch(args.name)
    print(f"deleted branch {args.name}")
    return EXIT_OK


def branch_parameters(args: argparse.Namespace, params: dict[str, str]) -> dict[str, str]:
    """`pgwarden connection-string BRANCH [--role R] [--endpoint E]`: the
    branch's database, the role (a parent role becomes its branch role in a
    branch with its own credentials) and the endpoint option."""
    branch = getattr(args, "branch", None)
    endpoint = getattr(args, "endpoint", None)
    role = getattr(args, "role", None)
    if role:
        params["user"] = role
    if branch:
        try:
            project = Project(args.dsn)
            b = project.branch(branch)
            if endpoint and endpoint not in b.endpoints:
                raise CommandError(f'endpoint "{endpoint}" is not an endpoint of branch "{branch}"',
                                   EXIT_FAILED)
            if role:
                for r in project.branch_roles(branch):
                    if r.parent_role == role:
                        params["user"] = r.role
        except LookupError as exc:
            raise CommandError(str(exc).strip("'\""), EXIT_FAILED) from exc
        if b.database is None:
            raise CommandError(f'branch "{branch}" has no database', EXIT_FAILED)
        params["dbname"] = b.database
    if endpoint:
        params["options"] = f"-c pgwarden.endpoint={escape_option_value(endpoint)}"
    return params
