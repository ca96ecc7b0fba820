"""`pgwarden status` (one screen about this server) and `pgwarden metrics`
(Prometheus' text format)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ._cli_util import EXIT_FAILED, EXIT_OK, add_command, connect, print_record
from .audit import gate_stats, list_events
from .metrics import exporter_yaml, scrape


def register(sub: Any) -> None:
    st = add_command(sub, "status", help="policy state, gate counters, protected branches, "
                                         "endpoints and their sessions on this server "
                                         "(exit status 1 when the policy is not loaded)",
                     example=["pgwarden status", "pgwarden status -o json"])
    st.set_defaults(func=cmd_status)

    m = add_command(sub, "metrics", help="pgwarden's metrics in Prometheus' text format",
                    example=["pgwarden metrics --dsn 'dbname=control user=monitor'",
                             "pgwarden metrics --exporter-queries > queries.yaml"])
    m.add_argument("--exporter-queries", action="store_true",
                   help="print the query file for postgres_exporter instead (no server needed)")
    m.set_defaults(func=cmd_metrics)


def _ago(when: dt.datetime | None, now: dt.datetime) -> str:
    if when is None:
        return "never"
    s = max((now - when).total_seconds(), 0.0)
    if s < 60:
        return f"{s:.1f} s ago"
    if s < 3600:
        return f"{s / 60:.0f} min ago"
    if s < 86400:
        return f"{s / 3600:.1f} h ago"
    return f"{s / 86400:.1f} days ago"


def collect(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Everything `pgwarden status` shows, as plain data."""
    with conn.cursor(row_factory=dict_row) as cur:
        now = cur.execute("SELECT pg_catalog.now() AS now").fetchone()["now"]  # type: ignore[index]
        policy = cur.execute("SELECT * FROM pgwarden.policy_status()").fetchone()
        try:  # the table itself may be what is damaged
            changed = cur.execute("SELECT version, changed_at FROM pgwarden.policy_version"
                                  ).fetchone()
        except psycopg.Error:
            changed = None
        entries = cur.execute("SELECT count(*) AS n FROM pgwarden.ip_allowlist").fetchone()
        # the view, not the table: pgwarden_admin members may read only the view
        scope = cur.execute("SELECT protected_only FROM pgwarden.ip_allow_scope").fetchone()
        protected = [r["name"] for r in cur.execute(
            "SELECT name FROM pgwarden.branches WHERE protected ORDER BY name")]
        endpoints = cur.execute(
            "SELECT e.name, e.branch, e.database, e.kind, e.max_connections, e.suspended,"
            "       e.is_default, coalesce(s.sessions, 0) AS sessions"
            "  FROM pgwarden.endpoints e"
            "  LEFT JOIN pgwarden._endpoint_sessions() s ON s.endpoint = e.name"
            " ORDER BY e.branch, e.is_default DESC, e.name").fetchall()
    assert policy is not None and entries is not None
    last = list_events(conn, limit=1)
    return {
        "now": now,
        "policy": {"state": policy["state"], "version": policy["version"],
                   "loaded_at": policy["loaded_at"],
                   "changed_at": changed["changed_at"] if changed else None,
                   "table_version": changed["version"] if changed else None,
                   "memory_used": policy["memory_used"],
                   "memory_capacity": policy["memory_capacity"], "detail": policy["detail"]},
        "allowlist": {"entries": entries["n"],
                      "protected_only": bool(scope and scope["protected_only"])},
        "gate": [c.as_dict() for c in gate_stats(conn)],
        "protected_branches": protected,
        "endpoints": endpoints,
        "last_audit_event": last[0].as_dict() if last else None,
    }


def _print(s: dict[str, Any]) -> None:
    now = s["now"]
    p = s["policy"]
    tables = "unreadable" if p["table_version"] is None else p["table_version"]
    print(f"policy:      {p['state']}, version {p['version']}"
          f" (tables at {tables}), published {_ago(p['loaded_at'], now)},"
          f" changed {_ago(p['changed_at'], now)}")
    print(f"             {p['memory_used'] / 1024:.1f} kB of {p['memory_capacity'] / 1024:.0f} kB"
          f" shared memory; {p['detail']}")
    a = s["allowlist"]
    print(f"allowlist:   {a['entries']} entries, applying to "
          + ("protected branches only" if a["protected_only"] else "every database"))
    gate = s["gate"]
    since = dt.datetime.fromisoformat(gate[0]["since"]) if gate else None
    print(f"gate:        since {since:%Y-%m-%d %H:%M:%S} ({_ago(since, now)})" if since
          else "gate:        no counters")
    for g in gate:
        if g["connections"] == 0:
            continue
        when = dt.datetime.fromisoformat(g["last_at"]) if g["last_at"] else None
        client = g["last_client"] or "a Unix socket"
        print(f"  {g['reason']:<22} {g['connections']:>8}   last {_ago(when, now)} from {client}")
    print("protected:   " + (", ".join(s["protected_branches"]) or "no branch is protected"))
    if s["endpoints"]:
        print("endpoints:   name, branch, kind, state, limit, sessions")
        for e in s["endpoints"]:
            state = "suspended" if e["suspended"] else "active"
            limit = "no limit" if e["max_connections"] is None else f"limit {e['max_connections']}"
            default = " (default)" if e["is_default"] else ""
            print(f"  {e['name']}{default}  {e['branch']}  {e['kind']}  {state}  {limit}"
                  f"  {e['sessions']} sessions")
    else:
        print("endpoints:   none (no branch is registered)")
    ev = s["last_audit_event"]
    if ev:
        when = dt.datetime.fromisoformat(ev["at"])
        print(f"audit:       last event {_ago(when, now)}: {ev['action']}"
              f" {ev['object'] or ''} by {ev['session_user'] or '?'}".rstrip())
    else:
        print("audit:       no event recorded")


def cmd_status(args: argparse.Namespace) -> int:
    with connect(args.dsn, quiet=args.quiet) as conn:
        s = collect(conn)
    if args.output == "json":
        print_record(s, "json")
    else:
        _print(s)
    return EXIT_OK if s["policy"]["state"] == "loaded" else EXIT_FAILED


def cmd_metrics(args: argparse.Namespace) -> int:
    if args.exporter_queries:
        sys.stdout.write(exporter_yaml())
        return EXIT_OK
    with connect(args.dsn, quiet=args.quiet) as conn:
        sys.stdout.write(scrape(conn))
    return EXIT_OK
