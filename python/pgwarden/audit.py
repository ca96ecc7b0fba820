"""The audit trail and the gate's counters from Python.

Every function takes an open psycopg connection to the control database whose
role is a superuser or a member of ``pgwarden_admin``.

>>> [e.action for e in list_events(conn, since="1h", action=["allowlist.*"])]
['allowlist.add', 'allowlist.remove']
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

__all__ = ["AuditEvent", "GateCounter", "gate_stats", "list_events", "parse_since"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class AuditEvent:
    """One row of ``pgwarden.audit_log``.

    >>> e = project.audit(action="allowlist.add", limit=1)[0]
    >>> e.action, e.after["entry"], e.session_user
    ('allowlist.add', '203.0.113.7', 'postgres')
    """

    id: int
    at: dt.datetime
    session_user: str | None
    current_user: str | None
    client_addr: str | None
    application_name: str | None
    database: str | None
    action: str
    object: str | None
    before: Any
    after: Any
    xid: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "session_user": self.session_user,
                "current_user": self.current_user, "client_addr": self.client_addr,
                "application_name": self.application_name, "database": self.database,
                "action": self.action, "object": self.object, "before": self.before,
                "after": self.after, "xid": self.xid}


@dataclass(frozen=True)
class GateCounter:
    """One row of ``pgwarden.gate_stats``: connections the gate decided one way.

    >>> {c.reason: c.connections for c in gate_stats(conn)}["admitted"]
    1042
    """

    reason: str
    connections: int
    last_at: dt.datetime | None
    last_client: str | None
    since: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "connections": self.connections,
                "last_at": self.last_at.isoformat() if self.last_at else None,
                "last_client": self.last_client, "since": self.since.isoformat()}


def parse_since(value: str | dt.timedelta | dt.datetime) -> dt.timedelta | dt.datetime:
    """``'90s'``, ``'30m'``, ``'1h'``, ``'2d'``, ``'1w'`` (combinable: ``'1h30m'``) or an
    ISO 8601 time; raises ``ValueError`` for anything else."""
    if isinstance(value, (dt.timedelta, dt.datetime)):
        return value
    text = value.strip()
    if re.fullmatch(r"(\d+[smhdw])+", text):
        return dt.timedelta(seconds=sum(int(n) * _UNITS[u]
                                        for n, u in re.findall(r"(\d+)([smhdw])", text)))
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a duration (like 1h, 30m, 2d) or an ISO time: {value!r}") from None
    return when if when.tzinfo else when.astimezone()


def _like(pattern: str) -> str:
    """An action filter as a LIKE pattern: ``*`` is a wildcard, the rest literal."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def list_events(conn: psycopg.Connection[Any], *,
                since: str | dt.timedelta | dt.datetime | None = None,
                action: str | Sequence[str] | None = None,
                object: str | None = None,
                limit: int | None = None) -> list[AuditEvent]:
    """Audit rows, oldest first.

    ``since`` is a duration back from now or a point in time; ``action`` one or
    more actions, ``*`` matching anything (``'branch.*'``); ``object`` the
    object exactly; ``limit`` keeps the newest that many.
    """
    where = ["true"]
    args: list[Any] = []
    if since is not None:
        s = parse_since(since)
        if isinstance(s, dt.timedelta):
            where.append("at >= pg_catalog.now() - %s")
        else:
            where.append("at >= %s")
        args.append(s)
    if action is not None:
        actions = [action] if isinstance(action, str) else list(action)
        where.append("action LIKE ANY (%s::text[])")
        args.append([_like(a) for a in actions])
    if object is not None:
        where.append("object = %s")
        args.append(object)
    query = ("SELECT * FROM (SELECT * FROM pgwarden.audit_log WHERE " + " AND ".join(where)
             + " ORDER BY id DESC" + (" LIMIT %s" if limit is not None else "")
             + ") t ORDER BY id")
    if limit is not None:
        args.append(limit)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, args).fetchall()
    return [AuditEvent(
        id=r["id"], at=r["at"], session_user=r["session_user_name"],
        current_user=r["current_user_name"],
        client_addr=None if r["client_addr"] is None else str(r["client_addr"]),
        application_name=r["application_name"], database=r["database"], action=r["action"],
        object=r["object"], before=r["before"], after=r["after"],
        xid=None if r["xid"] is None else int(r["xid"])) for r in rows]


def gate_stats(conn: psycopg.Connection[Any]) -> list[GateCounter]:
    """The connection gate's counters on the server ``conn`` is connected to."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT * FROM pgwarden.gate_stats").fetchall()
    return [GateCounter(reason=r["reason"], connections=int(r["connections"]),
                        last_at=r["last_at"],
                        last_client=None if r["last_client"] is None else str(r["last_client"]),
                        since=r["since"]) for r in rows]


def reset_gate_stats(conn: psycopg.Connection[Any]) -> None:
    """Set the gate's counters on this server to zero (recorded in the audit log)."""
    conn.execute("SELECT pgwarden.gate_stats_reset()")
