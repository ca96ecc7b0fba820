"""The IP allowlist from Python: typed helpers over pgwarden's SQL API.

Every function takes an open psycopg connection to the control database (the
database where ``CREATE EXTENSION pgwarden`` ran) whose role is a superuser or
a member of ``pgwarden_admin``.  Failures raise :mod:`pgwarden.errors` classes
(which are also psycopg's class for the SQLSTATE); the server's WARNINGs
(the self-lockout warning) are issued through :mod:`warnings`.  Changes are transactional: inside
``with conn.transaction():`` they commit or roll back together, and new
connections see a committed change within a second.

>>> add(conn, ["203.0.113.7", "198.51.100.20-198.51.100.50", "192.0.2.0/24"])
3
>>> [e.entry for e in list_entries(conn)]
['192.0.2.0/24', '198.51.100.20-198.51.100.50', '203.0.113.7']
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from . import errors

__all__ = [
    "AllowlistEntry",
    "PolicyStatus",
    "add",
    "check_connection",
    "list_entries",
    "policy_status",
    "protected_only",
    "remove",
    "reset",
    "set_protected_only",
    "wait_published",
]

SCHEMA = "pgwarden"


@dataclass(frozen=True)
class AllowlistEntry:
    """One row of ``pgwarden.ip_allowlist``.

    >>> e = list_entries(conn)[0]
    >>> e.entry, e.kind, e.first_address, e.last_address
    ('198.51.100.20-198.51.100.50', 'range', '198.51.100.20', '198.51.100.50')
    """

    entry: str
    role: str | None
    kind: str  # 'address', 'range' or 'cidr'
    first_address: str
    last_address: str
    comment: str | None
    created_at: dt.datetime
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PolicyStatus:
    """What the connection gate is enforcing (``pgwarden.policy_status()``).

    >>> policy_status(conn).state
    'loaded'
    """

    state: str  # 'loaded', 'not loaded' or 'damaged'
    version: int
    control_database: str | None
    loaded_at: dt.datetime | None
    memory_used: int
    memory_capacity: int
    detail: str


def _fn(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(name))


@errors.helper
def add(conn: psycopg.Connection[Any], entries: Sequence[str], *, role: str | None = None,
        comment: str | None = None) -> int:
    """Allow addresses, ranges (``A-B``) and CIDR blocks; returns how many are new.

    With ``role`` the entries apply to that role only.  A bad entry raises
    ``psycopg.errors.InvalidParameterValue`` (SQLSTATE 22023) naming it, and
    nothing of the call is stored.

    >>> add(conn, ["10.0.0.0/8"], role="app", comment="office VPN")
    1
    """
    q = sql.SQL("SELECT {}(%s::text[], role => %s::name, comment => %s::text)").format(
        _fn("ip_allow_add"))
    row = conn.execute(q, (list(entries), role, comment)).fetchone()
    assert row is not None
    return int(row[0])


@errors.helper
def remove(conn: psycopg.Connection[Any], entries: Sequence[str], *, role: str | None = None,
           force: bool = False) -> int:
    """Remove entries (those of ``role`` when given); returns how many were removed.

    Refused (``psycopg.errors.ObjectNotInPrerequisiteState``, 55000) when the
    calling session's own address would be locked out, unless ``force``.

    >>> remove(conn, ["203.0.113.7"])
    1
    """
    q = sql.SQL("SELECT {}(%s::text[], role => %s::name, force => %s)").format(
        _fn("ip_allow_remove"))
    row = conn.execute(q, (list(entries), role, force)).fetchone()
    assert row is not None
    return int(row[0])


@errors.helper
def reset(conn: psycopg.Connection[Any], *, force: bool = False) -> int:
    """Remove every entry; an empty allowlist restricts nobody.  Returns the number removed.

    >>> reset(conn)
    3
    """
    q = sql.SQL("SELECT {}(force => %s)").format(_fn("ip_allow_reset"))
    row = conn.execute(q, (force,)).fetchone()
    assert row is not None
    return int(row[0])


@errors.helper
def list_entries(conn: psycopg.Connection[Any], *, role: str | None = None) -> list[AllowlistEntry]:
    """The allowlist; with ``role``, only the entries limited to that role.

    >>> [(e.entry, e.role) for e in list_entries(conn, role="app")]
    [('10.0.0.0/8', 'app')]
    """
    q = sql.SQL(
        "SELECT entry, role, kind, host(first_address) AS first_address,"
        " host(last_address) AS last_address, comment, created_at, created_by FROM {}"
    ).format(sql.Identifier(SCHEMA, "ip_allowlist"))
    params: tuple[Any, ...] = ()
    if role is not None:
        q = q + sql.SQL(" WHERE role = %s")
        params = (role,)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(q, params).fetchall()
    return [AllowlistEntry(**r) for r in rows]


@errors.helper
def set_protected_only(conn: psycopg.Connection[Any], enabled: bool) -> bool:
    """From now on the allowlist applies to protected branches only (or again to all).

    >>> set_protected_only(conn, True)
    True
    """
    q = sql.SQL("SELECT {}(%s)").format(_fn("ip_allow_protected_only"))
    row = conn.execute(q, (enabled,)).fetchone()
    assert row is not None
    return bool(row[0])


@errors.helper
def protected_only(conn: psycopg.Connection[Any]) -> bool:
    """Whether the allowlist applies to protected branches only.

    Reads the view ``pgwarden.ip_allow_scope`` (granted to ``pgwarden_admin``).

    >>> protected_only(conn)
    False
    """
    q = sql.SQL("SELECT protected_only FROM {}").format(
        sql.Identifier(SCHEMA, "ip_allow_scope"))
    row = conn.execute(q).fetchone()
    return row is not None and bool(row[0])


@errors.helper
def check_connection(conn: psycopg.Connection[Any], client: str | None, role: str,
                     database: str) -> str:
    """What the gate would decide now for a TLS connection (``client=None``: Unix socket).

    The answer starts with ``allow:`` or ``deny:`` and says why.

    >>> check_connection(conn, "192.0.2.1", "app", "shop")
    'deny: address 192.0.2.1 is not in the IP allowlist'
    """
    q = sql.SQL("SELECT {}(%s::inet, %s::name, %s::name)").format(_fn("check_connection"))
    row = conn.execute(q, (client, role, database)).fetchone()
    assert row is not None
    return str(row[0])


@errors.helper
def policy_status(conn: psycopg.Connection[Any]) -> PolicyStatus:
    """What the connection gate is enforcing now.

    >>> status = policy_status(conn)
    >>> status.state, status.memory_used <= status.memory_capacity
    ('loaded', True)
    """
    q = sql.SQL("SELECT * FROM {}()").format(_fn("policy_status"))
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(q).fetchone()
    assert row is not None
    return PolicyStatus(**row)


@errors.helper
def wait_published(conn: psycopg.Connection[Any], timeout: float = 2.0) -> PolicyStatus:
    """Wait until the gate enforces the committed policy; returns its status.

    Raises TimeoutError when it does not within ``timeout`` seconds (the
    worker normally publishes within a few milliseconds of the commit).

    >>> add(conn, ["203.0.113.8"])
    1
    >>> wait_published(conn).state
    'loaded'
    """
    q = sql.SQL("SELECT version, changed_at FROM {}").format(
        sql.Identifier(SCHEMA, "policy_version"))
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(q).fetchone()
        status = policy_status(conn)
        # The number alone is not enough: after DROP and CREATE EXTENSION the
        # count starts again, and the dropped install's snapshot can carry the
        # same number; one published after the last change is this install's.
        if (row is not None and status.state == "loaded" and status.version == row[0]
                and (status.loaded_at is None or status.loaded_at >= row[1])):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"the connection policy was not published: {status.detail}")
        time.sleep(0.01)
