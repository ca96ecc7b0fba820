"""`pgwarden branches create|list|get|register|protect|unprotect|reset|carry-privileges|delete|recover`."""

from __future__ import annotations

import argparse
import time
from typing import Any

from . import errors
from ._cli_util import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_command,
    add_group,
    confirm,
    human_size,
    print_record,
    print_rows,
    print_table,
    say,
    shell_quote,
    summary,
)
from ._progress import CopyProgress
from .branches import STRATEGIES, Branch, BranchCreated, Project, escape_option_value

BRANCH_COLUMNS = ("name", "database", "parent", "protected", "created_at", "parent_lsn",
                  "strategy", "endpoints", "state")

STRATEGY_HELP = ("template: CREATE DATABASE ... TEMPLATE (nobody may be connected to the "
                 "parent); online: snapshot-consistent pg_dump/pg_restore while the parent "
                 "stays in use; auto: template when the parent is idle, else online (default)")


def register(sub: Any) -> None:
    bsub = add_group(sub, "branches", dest="branches_command",
                     help="create, list, protect, reset and delete branches")

    create = add_command(bsub, "create", help="copy a branch into a new child branch",
                         example=["pgwarden branches create dev --parent shop",
                                  ("pgwarden branches create dev --parent shop --strategy online "
                                   "--jobs 4 --host db.example.com -o json")])
    create.add_argument("name", help="name of the new branch")
    create.add_argument("--parent", required=True, help="branch to copy")
    create.add_argument("--database", help="database name (default: the branch name)")
    create.add_argument("--strategy", choices=STRATEGIES, default="auto", help=STRATEGY_HELP)
    create.add_argument("--jobs", type=int, default=1, help="parallel jobs of an online copy")
    create.add_argument("--host", help="host name clients use, for the credentials' URIs "
                                       "(default: $PGWARDEN_HOST, the --dsn host, localhost)")
    create.add_argument("--sslrootcert",
                        help="CA certificate path for the credentials' URIs (default: "
                             "$PGWARDEN_SSLROOTCERT, the --dsn one, the server's pgwarden CA)")
    create.set_defaults(func=cmd_create)

    lst = add_command(bsub, "list", help="list the branches",
                      example=["pgwarden branches list", "pgwarden branches list -o json"])
    lst.set_defaults(func=cmd_list)

    get = add_command(bsub, "get", help="show one branch",
                      example="pgwarden branches get dev -o json")
    get.add_argument("name")
    get.set_defaults(func=cmd_get)

    reg = add_command(bsub, "register", help="make an existing database a branch",
                      example="pgwarden branches register shop")
    reg.add_argument("database")
    reg.add_argument("--parent", help="parent branch (default: a root branch)")
    reg.add_argument("--name", help="branch name (default: the database name)")
    reg.set_defaults(func=cmd_register)

    for action, helptext in (("protect", "protect a branch"),
                             ("unprotect", "lift the protection of a branch")):
        a = add_command(bsub, action, help=helptext, example=f"pgwarden branches {action} shop")
        a.add_argument("name")
        a.set_defaults(func=cmd_protect, protect=action == "protect")

    reset = add_command(bsub, "reset",
                        help="replace a branch's contents with a fresh copy of its parent "
                             "(keeps name, endpoints, credentials; asks first)",
                        example=["pgwarden branches reset dev",
                                 "pgwarden branches reset dev --strategy online --yes"])
    reset.add_argument("name")
    reset.add_argument("--strategy", choices=STRATEGIES, default="auto", help=STRATEGY_HELP)
    reset.add_argument("--jobs", type=int, default=1, help="parallel jobs of an online copy")
    reset.set_defaults(func=cmd_reset)

    carry = add_command(bsub, "carry-privileges",
                        help="give each branch role, inside its branch, the ownership and "
                             "grants its parent role holds there (done by create and "
                             "reset; repairs branches made by pgwarden 0.1.0)",
                        example="pgwarden branches carry-privileges dev")
    carry.add_argument("name")
    carry.set_defaults(func=cmd_carry)

    delete = add_command(bsub, "delete",
                         help="drop a branch, its endpoints and its branch roles (asks first)",
                         example=["pgwarden branches delete dev",
                                  "pgwarden branches delete dev --yes"])
    delete.add_argument("name")
    delete.set_defaults(func=cmd_delete)

    recover = add_command(bsub, "recover",
                          help="finish or undo the branch operations a killed client or a "
                               "crashed server left (each create, reset and delete does it "
                               "first for its own branch)",
                          example="pgwarden branches recover")
    recover.set_defaults(func=cmd_recover)


def _unprotect_hint(name: str) -> str:
    literal = name.replace("'", "''")
    return f"Unprotect it first: SELECT pgwarden.unprotect_branch('{literal}');"


def report_recovered(project: Project) -> None:
    """What an operation found interrupted and finished or undid first (stderr)."""
    for line in project.recovered:
        say("", line)


def project_of(args: argparse.Namespace) -> Project:
    return Project(args.dsn, host=getattr(args, "host", None),
                   sslrootcert=getattr(args, "sslrootcert", None))


def print_branches(branches: list[Branch], output: str) -> None:
    print_rows([b.as_dict() for b in branches], BRANCH_COLUMNS, output)


def print_branch(branch: Branch, output: str) -> None:
    print_record(branch.as_dict(), output, BRANCH_COLUMNS)


def _progress(args: argparse.Namespace) -> CopyProgress | None:
    return None if args.quiet else CopyProgress()


def _copied(progress: CopyProgress | None) -> str:
    return f" ({human_size(progress.bytes)})" if progress is not None and progress.bytes else ""


def created_record(result: BranchCreated) -> dict[str, Any]:
    return {"branch": result.branch.as_dict(), "strategy": result.strategy,
            "seconds": round(result.seconds, 3),
            "credentials": [c.as_dict() for c in result.credentials]}


def cmd_create(args: argparse.Namespace) -> int:
    progress = _progress(args)
    project = project_of(args)
    try:
        result = project.create_branch(args.name, args.parent, database=args.database,
                                       strategy=args.strategy, jobs=args.jobs,
                                       progress=progress)
    finally:
        if progress is not None:
            progress.close()
        report_recovered(project)
    if args.output == "json":
        print_record(created_record(result), "json")
    else:
        print_branch(result.branch, "table")
        if result.credentials:
            print("\nbranch credentials (shown once; store them now):")
            print_table([c.as_dict() for c in result.credentials], ("role", "parent_role", "uri"))
    summary(args, f"created branch {result.branch.name} from {args.parent}: "
                  f"{result.strategy} copy{_copied(progress)} in {result.seconds:.1f} s")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    print_branches(Project(args.dsn).branches(), args.output)
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    print_branch(Project(args.dsn).branch(args.name), args.output)
    return EXIT_OK


def cmd_register(args: argparse.Namespace) -> int:
    print_branch(Project(args.dsn).register_branch(args.database, args.parent, args.name),
                 args.output)
    return EXIT_OK


def cmd_protect(args: argparse.Namespace) -> int:
    project = Project(args.dsn)
    b = project.protect(args.name) if args.protect else project.unprotect(args.name)
    print_branch(b, args.output)
    return EXIT_OK


def cmd_reset(args: argparse.Namespace) -> int:
    with Project(args.dsn) as project:
        b = project.branch(args.name)
        if b.protected:  # the server refuses it anyway; do not ask for nothing
            raise errors.ProtectedBranchError(
                f'branch "{b.name}" is protected: reset is refused',
                hint=_unprotect_hint(b.name))
        confirm(args, f'replace the contents of branch "{b.name}" (database "{b.database}") '
                      f'with a fresh copy of "{b.parent}", closing its sessions')
        progress = _progress(args)
        started = time.monotonic()
        try:
            b = project.reset_branch(args.name, strategy=args.strategy, jobs=args.jobs,
                                     progress=progress)
        finally:
            if progress is not None:
                progress.close()
            report_recovered(project)
    seconds = time.monotonic() - started
    if args.output == "json":
        print_record({"branch": b.as_dict(), "strategy": b.strategy,
                      "seconds": round(seconds, 3)}, "json")
    else:
        print_branch(b, "table")
    summary(args, f"reset branch {b.name} from {b.parent}: {b.strategy} copy{_copied(progress)} "
                  f"in {seconds:.1f} s")
    return EXIT_OK


def cmd_carry(args: argparse.Namespace) -> int:
    n = Project(args.dsn).carry_privileges(args.name)
    if args.output == "json":
        print_record({"branch": args.name, "statements": n}, "json")
    else:
        print(f"branch {args.name}: {n} statements carried the parent roles' privileges")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    with Project(args.dsn) as project:
        b = project.branch(args.name)
        if b.protected:
            raise errors.ProtectedBranchError(
                f'branch "{b.name}" is protected: delete is refused',
                hint=_unprotect_hint(b.name))
        roles = project.branch_roles(args.name)
        what = f'drop branch "{b.name}": database "{b.database}"'
        what += f", endpoints {', '.join(b.endpoints)}" if b.endpoints else ""
        what += f" and {len(roles)} branch role{'s' if len(roles) != 1 else ''}" if roles else ""
        confirm(args, what)
        started = time.monotonic()
        try:
            project.delete_branch(args.name)
        finally:
            report_recovered(project)
    seconds = time.monotonic() - started
    if args.output == "json":
        print_record({"branch": b.name, "database": b.database, "deleted": True,
                      "seconds": round(seconds, 3)}, "json")
    else:
        print(f"deleted branch {b.name}")
    summary(args, f"deleted branch {b.name} (database {b.database}) in {seconds:.1f} s")
    return EXIT_OK


def cmd_recover(args: argparse.Namespace) -> int:
    done = Project(args.dsn).recover()
    if args.output == "json":
        print_record({"recovered": done}, "json")
    else:
        for line in done:
            print(line)
        if not done:
            print("nothing to recover")
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
        with Project(args.dsn) as project:
            b = project.branch(branch)
            if endpoint and endpoint not in b.endpoints:
                raise CommandError(f'endpoint "{endpoint}" is not an endpoint of branch "{branch}"',
                                   EXIT_FAILED, hint=f"pgwarden endpoints list --branch "
                                                     f"{shell_quote(branch)} shows them")
            if role:
                for r in project.branch_roles(branch):
                    if r.parent_role == role:
                        params["user"] = r.role
        if b.database is None:
            raise CommandError(f'branch "{branch}" has no database', EXIT_FAILED)
        params["dbname"] = b.database
    if endpoint:
        params["options"] = f"-c pgwarden.endpoint={escape_option_value(endpoint)}"
    return params


__all__ = ["branch_parameters", "register", "say"]
