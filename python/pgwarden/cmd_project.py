"""`pgwarden project delete`: drop the branch databases pgwarden made, and the extension.

It first lists what it will drop and keep, then asks (``--yes`` answers).
Databases pgwarden made (created or reset by pgwarden, or a plain ``CREATE
DATABASE ... TEMPLATE`` of a branch) are dropped; registered databases
(``register_branch``) are only unregistered, unless ``--drop-registered``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._cli_util import EXIT_OK, add_command, add_group, confirm, print_record, summary
from .branches import Project, ProjectDeletion
from .cmd_branches import report_recovered


def register(sub: Any) -> None:
    psub = add_group(sub, "project", dest="project_command",
                     help="the pgwarden project of this cluster")
    delete = add_command(
        psub, "delete",
        help="drop the branch databases pgwarden made and the pgwarden extension, keep "
             "registered ones (refused while any branch is protected; lists, then asks)",
        example=["pgwarden project delete", "pgwarden project delete --yes",
                 "pgwarden project delete --drop-registered --yes"])
    delete.add_argument("--drop-registered", action="store_true",
                        help="also drop the databases that were registered as branches "
                             "(kept by default)")
    delete.set_defaults(func=cmd_delete)


def describe(item: ProjectDeletion, done: bool) -> str:
    how = {"register": "registered", "create_database": "made by CREATE DATABASE ... TEMPLATE"}
    made = how.get(item.strategy, f"made by pgwarden ({item.strategy})")
    if item.database is None:
        return f"{'forgot' if done else 'will forget'} branch {item.branch} (its database is gone)"
    if item.drop:
        verb = "dropped" if done else "will drop"
        return f"{verb} database {item.database} (branch {item.branch}, {made})"
    verb = "kept" if done else "will keep"
    return f"{verb} database {item.database} (branch {item.branch}, {made}; no longer a branch)"


def cmd_delete(args: argparse.Namespace) -> int:
    with Project(args.dsn) as project:
        plan = project.project_deletion_plan(drop_registered=args.drop_registered)
        if args.output != "json":
            for item in plan:
                print(describe(item, done=False))
            print("will drop extension pgwarden", flush=True)
        drops = [i.database for i in plan if i.drop and i.database]
        keeps = [i.database for i in plan if not i.drop and i.database]
        confirm(args, f"drop {len(drops)} databases ({', '.join(drops) or 'none'}), keep "
                      f"{len(keeps)} ({', '.join(keeps) or 'none'}) and drop the pgwarden "
                      "extension")
        started = time.monotonic()
        try:
            done = project.delete_project(drop_registered=args.drop_registered)
        finally:
            report_recovered(project)
    seconds = time.monotonic() - started
    if args.output == "json":
        print_record({"branches": [i.as_dict() for i in done], "extension_dropped": True,
                      "seconds": round(seconds, 3)}, "json")
    else:
        for item in done:
            print(describe(item, done=True))
        print("dropped extension pgwarden")
    summary(args, f"deleted the project: dropped {sum(i.drop for i in done)} databases, kept "
                  f"{sum(not i.drop for i in done)}, dropped the extension in {seconds:.1f} s")
    return EXIT_OK
