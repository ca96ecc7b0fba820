"""`pgwarden ip-allow add|remove|list|check|scope|reset`: the IP allowlist.

Shaped like the allowlist commands of managed Postgres consoles::

    pgwarden ip-allow add 203.0.113.7 198.51.100.20-198.51.100.50 192.0.2.0/24
    pgwarden ip-allow add 10.0.0.0/8 --role app --comment "office VPN"
    pgwarden ip-allow remove 203.0.113.7
    pgwarden ip-allow list --output json
    pgwarden ip-allow scope --protected-only true
    pgwarden ip-allow reset --yes
    pgwarden ip-allow check 203.0.113.7 --role app --database shop

``list`` and ``check`` only read.  ``add``, ``remove`` and ``reset`` print the
resulting allowlist, and take ``--protected-only true|false`` to switch the
scope in the same transaction; ``scope`` shows or switches the scope alone.
``reset`` and ``remove --force`` ask first (``--yes`` without a terminal).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import psycopg

from . import allowlist
from ._cli_util import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_command,
    add_group,
    bool_argument,
    confirm,
    connect,
    print_record,
    print_table,
)

COLUMNS = ("entry", "role", "kind", "comment", "created_at", "created_by")

#: Kept for callers of the previous name.
_bool = bool_argument


def register(sub: Any) -> None:
    psub = add_group(sub, "ip-allow", dest="ip_allow_command", help="manage the IP allowlist",
                     description="Only client addresses on the allowlist may connect over TCP.")

    def scope_option(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--protected-only", type=bool_argument, metavar="true|false",
                        help="also switch the scope in the same transaction: protected "
                             "branches only (true) or every database (false)")

    add = add_command(psub, "add", help="allow addresses, ranges (A-B) and CIDR blocks",
                      example=[("pgwarden ip-allow add 203.0.113.7 198.51.100.20-198.51.100.50 "
                                "192.0.2.0/24"),
                               "pgwarden ip-allow add 10.0.0.0/8 --role app --comment 'office VPN'"])
    add.add_argument("entries", nargs="+", metavar="ENTRY")
    add.add_argument("--comment")
    add.add_argument("--role", help="the entries apply to this role only")
    scope_option(add)
    add.set_defaults(func=cmd_add)

    rm = add_command(psub, "remove", help="remove entries (--force asks first)",
                     example=["pgwarden ip-allow remove 203.0.113.7",
                              "pgwarden ip-allow remove 203.0.113.7 --force --yes"])
    rm.add_argument("entries", nargs="+", metavar="ENTRY")
    rm.add_argument("--force", action="store_true",
                    help="remove even when this would lock out your own address")
    rm.add_argument("--role", help="remove the entries of this role")
    scope_option(rm)
    rm.set_defaults(func=cmd_remove)

    ls = add_command(psub, "list", help="show the allowlist and its scope (reads only)",
                     example=["pgwarden ip-allow list", "pgwarden ip-allow list --role app -o json"])
    ls.add_argument("--role", help="show only the entries of this role")
    ls.add_argument("--protected-only", dest="list_protected_only", metavar="true|false",
                    help=argparse.SUPPRESS)
    ls.set_defaults(func=cmd_list)

    sc = add_command(psub, "scope", help="show the scope, or switch it with --protected-only",
                     example=["pgwarden ip-allow scope",
                              "pgwarden ip-allow scope --protected-only true"])
    sc.add_argument("--protected-only", type=bool_argument, metavar="true|false",
                    help="the allowlist applies to protected branches only (true) or to every "
                         "database (false)")
    sc.set_defaults(func=cmd_scope)

    ck = add_command(psub, "check", help="what the gate would decide for a client, and why "
                                         "(exit status 1 when it would refuse)",
                     example="pgwarden ip-allow check 203.0.113.7 --role app --database shop")
    ck.add_argument("address", metavar="ADDRESS", help="client address (a TLS connection)")
    ck.add_argument("--role", required=True)
    ck.add_argument("--database", required=True)
    ck.set_defaults(func=cmd_check)

    rs = add_command(psub, "reset",
                     help="remove every entry (an empty allowlist restricts nobody; asks first)",
                     example=["pgwarden ip-allow reset", "pgwarden ip-allow reset --yes"])
    rs.add_argument("--force", action="store_true",
                    help="reset even when the scope would then lock out your own address")
    scope_option(rs)
    rs.set_defaults(func=cmd_reset, role=None)


def allowlist_record(conn: psycopg.Connection[Any], role: str | None) -> dict[str, Any]:
    """The allowlist as ``--output json`` prints it: its scope and its entries."""
    entries = allowlist.list_entries(conn, role=role)
    return {"protected_only": allowlist.protected_only(conn),
            "entries": [e.as_dict() for e in entries]}


def print_allowlist(record: dict[str, Any], role: str | None, output: str) -> None:
    if output == "json":
        print_record(record, "json")
        return
    print_table(record["entries"], COLUMNS)
    empty = "" if record["entries"] or role else " (empty allowlist: no address is restricted)"
    print(f"\nprotected only: {'yes' if record['protected_only'] else 'no'}{empty}")


def _change(args: argparse.Namespace, action: Callable[[psycopg.Connection[Any]], object]) -> int:
    with connect(args.dsn, quiet=args.quiet) as conn:
        with conn.transaction():
            action(conn)
            if args.protected_only is not None:
                allowlist.set_protected_only(conn, args.protected_only)
        record = allowlist_record(conn, args.role)
    print_allowlist(record, args.role, args.output)
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    return _change(args, lambda conn: allowlist.add(conn, args.entries, role=args.role,
                                                    comment=args.comment))


def cmd_remove(args: argparse.Namespace) -> int:
    if args.force:
        confirm(args, f"remove {', '.join(args.entries)} from the IP allowlist even if that "
                      "locks out this session's own address")
    return _change(args, lambda conn: allowlist.remove(conn, args.entries, role=args.role,
                                                       force=args.force))


def cmd_reset(args: argparse.Namespace) -> int:
    with connect(args.dsn, quiet=args.quiet) as conn:
        n = len(allowlist.list_entries(conn))
    confirm(args, f"remove all {n} entries of the IP allowlist")
    return _change(args, lambda conn: allowlist.reset(conn, force=args.force))


def cmd_list(args: argparse.Namespace) -> int:
    if args.list_protected_only is not None:
        raise CommandError("ip-allow list only reads; it does not change the scope",
                           hint="pgwarden ip-allow scope --protected-only "
                                f"{args.list_protected_only} switches it")
    with connect(args.dsn, quiet=args.quiet) as conn:
        record = allowlist_record(conn, args.role)
    print_allowlist(record, args.role, args.output)
    return EXIT_OK


def cmd_scope(args: argparse.Namespace) -> int:
    with connect(args.dsn, quiet=args.quiet) as conn:
        if args.protected_only is not None:
            allowlist.set_protected_only(conn, args.protected_only)
        scope = allowlist.protected_only(conn)
    if args.output == "json":
        print_record({"protected_only": scope}, "json")
    else:
        print("protected only: " + ("yes (the allowlist applies to protected branches only)"
                                    if scope else "no (the allowlist applies to every database)"))
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    with connect(args.dsn, quiet=args.quiet) as conn:
        verdict = allowlist.check_connection(conn, args.address, args.role, args.database)
    allowed = verdict.startswith("allow:")
    if args.output == "json":
        print_record({"address": args.address, "role": args.role, "database": args.database,
                      "allow": allowed, "reason": verdict.split(": ", 1)[1]}, "json")
    else:
        print(verdict)
    return EXIT_OK if allowed else EXIT_FAILED
