"""Endpoints, branch roles and connection strings of a project.

The part of :class:`pgwarden.branches.Project` that reads and changes a
branch's ways in: endpoints (read-write or read-only, a connection limit,
suspended or not), the branch roles of a protected branch's children, and
verify-full connection URIs for them.  A mixin: ``Project`` gives it its
connection to the control database.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from . import errors
from .model import (
    Branch,
    BranchRole,
    Endpoint,
    EndpointKind,
    branch_connection_string,
    wait_published,
)


class EndpointsMixin:
    """Endpoint and branch-role operations of :class:`pgwarden.branches.Project`."""

    dsn: str
    host: str | None
    sslrootcert: str | None

    if TYPE_CHECKING:
        def connect(self) -> AbstractContextManager[psycopg.Connection[dict[str, Any]]]: ...
        def _get_branch(self, conn: psycopg.Connection[dict[str, Any]], name: str) -> Branch: ...

    def _endpoint_address(self, conn: psycopg.Connection[Any]) -> tuple[str | None, int | None, str | None]:
        """Host, port and CA certificate for connection URIs: ``host=`` (or
        ``$PGWARDEN_HOST``), else the connection's TCP host, else
        ``localhost`` (never a Unix-socket path, where TLS does not apply);
        ``sslrootcert=`` (or ``$PGWARDEN_SSLROOTCERT``), else the DSN's, else
        the CA ``pgwarden tls init`` wrote into the data directory."""
        params = psycopg.conninfo.conninfo_to_dict(self.dsn)
        host = self.host or os.environ.get("PGWARDEN_HOST") or conn.info.host
        if not host or host.startswith(("/", "@")):
            host = "localhost"
        port = conn.info.port
        rootcert = (self.sslrootcert or os.environ.get("PGWARDEN_SSLROOTCERT")
                    or params.get("sslrootcert") or os.environ.get("PGSSLROOTCERT"))
        if rootcert is None:
            try:
                row = conn.execute("SELECT pg_catalog.current_setting('data_directory', true)"
                                   " AS d").fetchone()
            except psycopg.Error:
                row = None
            datadir = row["d"] if isinstance(row, dict) else (row[0] if row else None)
            if datadir:
                ca = Path(datadir) / "pgwarden_ca.crt"
                try:
                    if ca.is_file():
                        rootcert = str(ca)
                except OSError:
                    pass
        return host, port, None if rootcert is None else str(rootcert)

    def connection_string(self, branch: str, *, role: str | None = None,
                          endpoint: str | None = None, password: str | None = None,
                          host: str | None = None, port: int | None = None,
                          sslrootcert: str | None = None) -> str:
        """A verify-full URI for a branch (role defaults to the project's user).

        >>> project.connection_string("dev", role="app@dev", endpoint="dev-ro", host="db.example.com")
        'postgresql://app%40dev@db.example.com:5432/dev?sslmode=verify-full&sslrootcert=...&options=-c%20pgwarden.endpoint%3Ddev-ro'
        """
        with self.connect() as conn:
            b = self._get_branch(conn, branch)
            if endpoint is not None:
                ep = conn.execute("SELECT branch FROM pgwarden.endpoints WHERE name = %s",
                                  [endpoint]).fetchone()
                if ep is None or ep["branch"] != branch:
                    raise errors.NotFound(
                        f'endpoint "{endpoint}" is not an endpoint of branch "{branch}"',
                        hint="SELECT name, branch FROM pgwarden.endpoints lists the endpoints.")
            h, p, root = self._endpoint_address(conn)
            user = role or conn.info.user
        if b.database is None:
            raise errors.StateError(f'branch "{branch}" has no database')
        return branch_connection_string(host=host or h, port=port or p, database=b.database,
                                        user=user, password=password, endpoint=endpoint,
                                        sslrootcert=sslrootcert or root)

    def endpoints(self, branch: str | None = None) -> list[Endpoint]:
        """The endpoints, or those of one branch (its default endpoint first).

        >>> [e.name for e in project.endpoints("dev")]
        ['dev', 'dev-ro']
        """
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM pgwarden.endpoints WHERE %(b)s::text IS NULL OR branch = %(b)s"
                " ORDER BY branch, is_default DESC, name", {"b": branch}).fetchall()
        return [Endpoint(**r) for r in rows]

    def endpoint(self, name: str) -> Endpoint:
        """One endpoint; :class:`~pgwarden.errors.NotFound` when there is none.

        >>> project.endpoint("dev-ro").kind
        'read_only'
        """
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM pgwarden.endpoints WHERE name = %s", [name]).fetchone()
        if row is None:
            raise errors.NotFound(f'endpoint "{name}" does not exist',
                                  hint="SELECT name, branch FROM pgwarden.endpoints lists the endpoints.")
        return Endpoint(**row)

    def create_endpoint(self, branch: str, name: str, kind: EndpointKind = "read_write",
                        max_connections: int | None = None) -> Endpoint:
        """Add an endpoint to a branch: ``read_write`` or ``read_only``, with a connection limit or none.

        >>> project.create_endpoint("dev", "dev-ro", "read_only", max_connections=10).kind
        'read_only'
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.create_endpoint(%s, %s, %s, %s)",
                         [branch, name, kind, max_connections])
            wait_published(conn)
        return self.endpoint(name)

    def suspend_endpoint(self, name: str) -> Endpoint:
        """Refuse new connections through an endpoint (within a second).

        >>> project.suspend_endpoint("dev-ro").suspended
        True
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.suspend_endpoint(%s)", [name])
            wait_published(conn)
        return self.endpoint(name)

    def resume_endpoint(self, name: str) -> Endpoint:
        """Accept connections through an endpoint again.

        >>> project.resume_endpoint("dev-ro").suspended
        False
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.resume_endpoint(%s)", [name])
            wait_published(conn)
        return self.endpoint(name)

    def set_endpoint_limit(self, name: str, max_connections: int | None) -> Endpoint:
        """Change an endpoint's connection limit (``None``: no limit).

        >>> project.set_endpoint_limit("dev-ro", None).max_connections is None
        True
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.set_endpoint_limit(%s, %s)", [name, max_connections])
            wait_published(conn)
        return self.endpoint(name)

    def drop_endpoint(self, name: str) -> None:
        """Drop an endpoint (refused on a protected branch, and for a default endpoint).

        >>> project.drop_endpoint("dev-ro")
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.drop_endpoint(%s)", [name])
            wait_published(conn)

    def branch_roles(self, branch: str | None = None) -> list[BranchRole]:
        """The branch roles, or those of one branch; never their passwords.

        >>> [r.role for r in project.branch_roles("dev")]
        ['app@dev']
        """
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM pgwarden.branch_roles WHERE %(b)s::text IS NULL OR branch = %(b)s"
                " ORDER BY branch, role", {"b": branch}).fetchall()
        return [BranchRole(**r) for r in rows]
