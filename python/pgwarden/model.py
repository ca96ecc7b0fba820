"""What pgwarden's branches are made of, as Python sees them: the data classes
(the views ``pgwarden.branches``, ``pgwarden.endpoints``,
``pgwarden.branch_roles``), what a create or a project delete returns, the
names of the copy strategies and endpoint kinds, connection strings, and the
few read queries every layer shares.  No connection is opened here.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg

#: progress(phase, done, total) is called while a branch is copied, with bytes:
#: phase "copy" (a template copy: the new database's size of the parent's),
#: "dump" (an online copy's dump: bytes written of the parent's table data) or
#: "restore" (the new database's size of the parent's); total may be 0.

#: How a branch is copied: ``template`` (CREATE DATABASE ... TEMPLATE, nobody may
#: be connected to the parent), ``online`` (snapshot-consistent pg_dump and
#: pg_restore while the parent is in use), ``auto`` (template when idle).
CopyStrategy = Literal["auto", "template", "online"]
#: An endpoint admits writes (``read_write``) or none at all (``read_only``).
EndpointKind = Literal["read_write", "read_only"]

STRATEGIES: tuple[CopyStrategy, ...] = ("auto", "template", "online")
ENDPOINT_KINDS: tuple[EndpointKind, ...] = ("read_write", "read_only")


@dataclass(frozen=True)
class Branch:
    """A registered database: name, lineage, protection and state (the view ``pgwarden.branches``).

    >>> b = project.branch("dev")
    >>> b.parent, b.protected, b.endpoints
    ('shop', False, ('dev',))
    """
    name: str
    database: str | None
    parent: str | None
    protected: bool
    created_at: dt.datetime | None
    parent_lsn: str | None
    strategy: str
    endpoints: tuple[str, ...]
    state: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "database": self.database, "parent": self.parent,
            "protected": self.protected,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "parent_lsn": self.parent_lsn, "strategy": self.strategy,
            "endpoints": list(self.endpoints), "state": self.state,
        }


@dataclass(frozen=True)
class Endpoint:
    """A named way into a branch (the view ``pgwarden.endpoints``).

    >>> e = project.endpoint("dev-ro")
    >>> e.kind, e.max_connections, e.suspended
    ('read_only', 10, False)
    """
    name: str
    branch: str
    database: str | None
    kind: str
    max_connections: int | None
    suspended: bool
    is_default: bool
    created_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "branch": self.branch, "database": self.database,
            "kind": self.kind, "max_connections": self.max_connections,
            "suspended": self.suspended, "is_default": self.is_default,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class BranchRole:
    """A branch role of a child of a protected branch (never its password).

    >>> [(r.role, r.parent_role) for r in project.branch_roles("dev")]
    [('app@dev', 'app')]
    """
    role: str
    branch: str
    database: str | None
    parent_role: str
    created_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "branch": self.branch, "database": self.database,
                "parent_role": self.parent_role, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class Credential:
    """A branch role and its generated password, shown once.

    >>> cred = project.create_branch("dev", "shop").credentials[0]
    >>> cred.role, cred
    ('app@dev', Credential(role='app@dev', parent_role='app', branch='dev', database='dev'))
    """

    role: str
    parent_role: str
    branch: str
    database: str
    password: str = field(repr=False)
    uri: str = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "parent_role": self.parent_role, "branch": self.branch,
                "database": self.database, "password": self.password, "uri": self.uri}


@dataclass(frozen=True)
class BranchCreated:
    """What :meth:`Project.create_branch` made: the branch, the strategy used, the time taken and the new credentials.

    >>> created = project.create_branch("dev", "shop")
    >>> created.strategy, round(created.seconds), len(created.credentials)
    ('template', 2, 1)
    """
    branch: Branch
    strategy: str
    seconds: float
    credentials: tuple[Credential, ...]


def escape_option_value(value: str) -> str:
    """Escape for libpq's options: backslash before backslashes and spaces."""
    return re.sub(r"([\\\s])", r"\\\1", value)


def branch_connection_string(
    *,
    host: str | None,
    port: int | str | None,
    database: str,
    user: str | None = None,
    password: str | None = None,
    endpoint: str | None = None,
    sslrootcert: str | None = None,
    sslmode: str = "verify-full",
) -> str:
    """A postgresql:// URI for a branch, verifying the server over TLS.

    Unix-socket hosts go into the query string (TLS does not apply to them);
    an endpoint becomes ``options=-c pgwarden.endpoint=NAME``.
    """
    q = urllib.parse.quote
    auth = ""
    if user is not None:
        auth = q(user, safe="")
        if password is not None:
            auth += ":" + q(password, safe="")
        auth += "@"
    params: list[tuple[str, str]] = []
    netloc = ""
    if host and host.startswith("/"):
        params.append(("host", host))
        if port:
            params.append(("port", str(port)))
    else:
        h = host or "localhost"
        netloc = f"[{h}]" if ":" in h else h
        if port:
            netloc += f":{port}"
        params.append(("sslmode", sslmode))
        if sslrootcert:
            params.append(("sslrootcert", sslrootcert))
    if endpoint:
        params.append(("options", f"-c pgwarden.endpoint={escape_option_value(endpoint)}"))
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return f"postgresql://{auth}{netloc}/{q(database, safe='')}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class ProjectDeletion:
    """One branch in a project delete: its database is dropped, or kept and unregistered."""

    branch: str
    database: str | None
    strategy: str
    drop: bool

    def as_dict(self) -> dict[str, Any]:
        return {"branch": self.branch, "database": self.database, "strategy": self.strategy,
                "drop": self.drop}


def branch_from_row(r: dict[str, Any]) -> Branch:
    """A row of the view ``pgwarden.branches`` as a :class:`Branch`."""
    return Branch(name=r["name"], database=r["database"], parent=r["parent"],
                  protected=r["protected"], created_at=r["created_at"],
                  parent_lsn=None if r["parent_lsn"] is None else str(r["parent_lsn"]),
                  strategy=r["strategy"], endpoints=tuple(r["endpoints"] or ()),
                  state=r["state"])


def wait_published(conn: psycopg.Connection[dict[str, Any]], timeout: float = 2.0) -> bool:
    """Wait until the connection gate enforces what was just committed
    (new credentials, a reset branch's database); False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(
            "SELECT s.state, s.version = v.version AS current"
            "  FROM pgwarden.policy_status() s, pgwarden.policy_version v").fetchone()
        if row is not None and row["state"] == "loaded" and row["current"]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
