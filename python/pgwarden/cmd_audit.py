"""`pgwarden audit list`: the audit trail of the policy."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._cli_util import EXIT_OK, CommandError, add_command, add_group, connect, print_rows
from .audit import list_events, parse_since

AUDIT_COLUMNS = ("at", "action", "object", "session_user", "current_user", "client_addr",
                 "database", "change")
#: The table shows this much of before/after (--output json has all of it).
CHANGE_WIDTH = 72


def register(sub: Any) -> None:
    asub = add_group(sub, "audit", dest="audit_command",
                     help="the audit trail: who changed the policy, what was refused")
    lst = add_command(asub, "list", help="list audit events, oldest first",
                      example=["pgwarden audit list --since 1h",
                               "pgwarden audit list --action 'branch.*' --limit 20 -o json"])
    lst.add_argument("--since", help="only events this recent (90s, 30m, 1h, 2d, 1w) or after "
                                     "this ISO time")
    lst.add_argument("--action", action="append",
                     help="only this action (repeatable; * matches anything: 'branch.*')")
    lst.add_argument("--object", help="only events about this object (an entry, branch, ...)")
    lst.add_argument("--limit", type=int, help="only the newest N events")
    lst.set_defaults(func=cmd_list)


def _change(before: Any, after: Any) -> str:
    """A short view of before/after for the table: the fields that differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in after if before.get(k) != after.get(k)]
        return ", ".join(f"{k}: {json.dumps(before.get(k))} -> {json.dumps(after.get(k))}"
                         for k in keys)
    return json.dumps(after if after is not None else before, separators=(",", ":"))


def cmd_list(args: argparse.Namespace) -> int:
    since = None
    if args.since is not None:
        try:
            since = parse_since(args.since)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
    if args.limit is not None and args.limit < 0:
        raise CommandError("--limit must be 0 or more")
    with connect(args.dsn, quiet=args.quiet) as conn:
        events = list_events(conn, since=since, action=args.action, object=args.object,
                             limit=args.limit)
    if args.output == "json":
        print_rows([e.as_dict() for e in events], AUDIT_COLUMNS, "json")
        return EXIT_OK
    rows = []
    for e in events:
        d = e.as_dict()
        d["at"] = e.at.strftime("%Y-%m-%d %H:%M:%S%z")
        change = _change(e.before, e.after)
        d["change"] = change if len(change) <= CHANGE_WIDTH else change[:CHANGE_WIDTH - 1] + "…"
        rows.append(d)
    print_rows(rows, AUDIT_COLUMNS, "table")
    return EXIT_OK
