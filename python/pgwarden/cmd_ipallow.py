"""`pgwarden ip-allow add|remove|list|reset`: the IP allowlist.

Shaped like the allowlist commands of managed Postgres consoles::

    pgwarden ip-allow add 203.0.113.7 198.51.100.20-198.51.100.50 192.0.2.0/24
    pgwarden ip-allow add 10.0.0.0/8 --role app --comment "office VPN"
    pgwarden ip-allow remove 203.0.113.7
    pgwarden ip-allow list --output json
    pgwarden ip-allow list --protected-only true
    pgwarden ip-allow reset
    pgwarden ip-allow check 203.0.113.7 --role app --database shop

Every action prints the resulting allowlist.  ``--protected-only true|false``
switches the scope (protected branches only, or every database) in the same
transaction as the action.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import allowlist
from ._cli_util import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_listing_arguments,
    connect,
    print_rows,
)

COLUMNS = ("entry", "role", "kind", "comment", "created_at", "created_by")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "on", "yes", "1"):
        return True
    if value in ("false", "off", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def register(sub: Any) -> None:
    p = sub.add_parser("ip-allow", help="manage the IP allowlist",
                       description="Only client addresses on the allowlist may connect over TCP.")
    psub = p.add_subparsers(dest="ip_allow_command", required=True, metavar="ACTION")

    def common(sp: argparse.ArgumentParser, *, role_help: str) -> None:
        sp.add_argument("--role", help=role_help)
        sp.add_argument("--protected-only", type=_bool, metavar="true|false",
                        help="apply the allowlist to protected branches only (true) or to "
                             "every database (false)")
        add_listing_arguments(sp)

    add = psub.add_parser("add", help="allow addresses, ranges (A-B) and CIDR blocks")
    add.add_argument("entries", nargs="+", metavar="ENTRY")
    add.add_argument("--comment")
    common(add, role_help="the entries apply to this role only")
    add.set_defaults(func=cmd_add)

    rm = psub.add_parser("remove", help="remove entries")
    rm.add_argument("entries", nargs="+", metavar="ENTRY")
    rm.add_argument("--force", action="store_true",
                    help="remove even when this would lock out your own address")
    common(rm, role_help="remove the entries of this role")
    rm.set_defaults(func=cmd_remove)

    ls = psub.add_parser("list", help="show the allowlist")
    common(ls, role_help="show only the entries of this role")
    ls.set_defaults(func=cmd_list)

    ck = psub.add_parser("check", help="what the gate would decide for a client, and why "
                                       "(exit status 1 when it would refuse)")
    ck.add_argument("address", metavar="ADDRESS", help="client address (a TLS connection)")
    ck.add_argument("--role", required=True)
    ck.add_argument("--database", required=True)
    add_listing_arguments(ck)
    ck.set_defaults(func=cmd_check)

    rs = psub.add_parser("reset", help="remove every entry (an empty allowlist restricts nobody)")
    rs.add_argument("--force", action="store_true")
    common(rs, role_help=argparse.SUPPRESS)
    rs.set_defaults(func=cmd_reset)


def _run(args: argparse.Namespace, action: Any) -> int:
    with connect(args.dsn) as conn:
        with conn.transaction():
            action(conn)
            if args.protected_only is not None:
                allowlist.set_protected_only(conn, args.protected_only)
        entries = allowlist.list_entries(conn, role=args.role)
        scope = allowlist.protected_only(conn)
    rows = [e.as_dict() for e in entries]
    if args.output == "json":
        json.dump({"protected_only": scope, "entries": rows}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print_rows(rows, COLUMNS, "table")
        print(f"\nprotected only: {'yes' if scope else 'no'}"
              f"{'' if entries or args.role else ' (empty allowlist: no address is restricted)'}")
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    return _run(args, lambda conn: allowlist.add(conn, args.entries, role=args.role,
                                                 comment=args.comment))


def cmd_remove(args: argparse.Namespace) -> int:
    return _run(args, lambda conn: allowlist.remove(conn, args.entries, role=args.role,
                                                    force=args.force))


def cmd_list(args: argparse.Namespace) -> int:
    return _run(args, lambda conn: None)


def cmd_reset(args: argparse.Namespace) -> int:
    if args.role:
        raise CommandError("reset removes every entry; use remove --role R ENTRY... for one role")
    return _run(args, lambda conn: allowlist.reset(conn, force=args.force))


def cmd_check(args: argparse.Namespace) -> int:
    with connect(args.dsn) as conn:
        verdict = allowlist.check_connection(conn, args.address, args.role, args.database)
    allowed = verdict.startswith("allow:")
    if args.output == "json":
        json.dump({"address": args.address, "role": args.role, "database": args.database,
                   "allow": allowed, "reason": verdict.split(": ", 1)[1]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(verdict)
    return EXIT_OK if allowed else EXIT_FAILED
