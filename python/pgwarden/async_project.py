"""AsyncProject: the operations of :class:`pgwarden.Project`, awaitable.

Over an open :class:`psycopg.AsyncConnection` (or a DSN: a connection for each
operation)::

    >>> import psycopg, pgwarden
    >>> async def main() -> None:
    ...     async with await psycopg.AsyncConnection.connect("dbname=control",
    ...                                                     autocommit=True) as conn:
    ...         project = pgwarden.AsyncProject(conn)
    ...         await project.protect("shop")
    ...         created = await project.create_branch("dev", "shop")
    ...         print([b.name for b in await project.branches()])
    >>> asyncio.run(main())                                   # doctest: +SKIP
    ['dev', 'shop']

Reading and changing the policy (branches, endpoints, roles, protection)
runs on the async connection.  The operations that copy or drop databases
(``create_branch``, ``reset_branch``, ``delete_branch``, ``delete_project``,
``carry_privileges``) run ``CREATE DATABASE``, ``pg_dump`` and ``pg_restore``
step by step; they run the synchronous :class:`~pgwarden.Project` in a worker
thread, over connections of their own to the same server, so the event loop
is never blocked.  Every operation of ``Project`` is here, with the same
arguments, results and :mod:`pgwarden.errors` classes.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Self

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from . import errors
from ._copy import SAFE_SEARCH_PATH
from ._progress import Progress
from .branches import Project, _dsn_of
from .model import (
    Branch,
    BranchCreated,
    BranchRole,
    CopyStrategy,
    Endpoint,
    EndpointKind,
    ProjectDeletion,
    branch_from_row,
)

__all__ = ["AsyncProject"]


class AsyncProject:
    """The pgwarden project of one cluster, for asyncio programs.

    ``source`` is a DSN or an open :class:`psycopg.AsyncConnection` to the
    control database (used as it is, left open; not inside a transaction).
    ``bindir``, ``host`` and ``sslrootcert`` mean what they mean for
    :class:`~pgwarden.Project`.

    >>> project = AsyncProject("dbname=control")
    >>> [b.name for b in await project.branches()]           # doctest: +SKIP
    ['control', 'shop']
    """

    def __init__(self, source: str | psycopg.AsyncConnection[Any] = "", *,
                 bindir: str | os.PathLike[str] | None = None, host: str | None = None,
                 sslrootcert: str | os.PathLike[str] | None = None) -> None:
        self._conn: psycopg.AsyncConnection[Any] | None = None
        if isinstance(source, str):
            self.dsn = source
        elif isinstance(source, psycopg.AsyncConnection):
            self._conn = source
            params: dict[str, Any] = source.info.get_parameters()
            if source.info.password:
                params["password"] = source.info.password
            self.dsn = _dsn_of(params)
        else:
            raise TypeError("AsyncProject needs a DSN or a psycopg.AsyncConnection, not "
                            f"{type(source).__name__}")
        self.sync = Project(self.dsn, bindir=bindir, host=host, sslrootcert=sslrootcert)

    def __repr__(self) -> str:
        return repr(self.sync).replace("pgwarden.Project", "pgwarden.AsyncProject", 1)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    # -- plumbing --------------------------------------------------------------
    @asynccontextmanager
    async def connect(self) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
        """An async connection to the control database for one operation
        (autocommit, dict rows, safe search_path); errors leave it as
        :mod:`pgwarden.errors` classes, WARNINGs through :mod:`warnings`.

        >>> async with project.connect() as conn:            # doctest: +SKIP
        ...     await conn.execute("SELECT 1")
        """
        try:
            if self._conn is None:
                async with await psycopg.AsyncConnection.connect(
                        self.dsn, autocommit=True, row_factory=dict_row,
                        options=self.sync._options()) as conn:
                    conn.add_notice_handler(errors.notice_handler)
                    await conn.execute(SAFE_SEARCH_PATH)
                    yield conn
                return
            conn = self._conn
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                raise errors.StateError("AsyncProject needs a connection outside a transaction",
                                        hint="commit or roll back first, or pass a DSN")
            saved = (conn.autocommit, conn.row_factory)
            await conn.set_autocommit(True)
            conn.row_factory = dict_row
            cur = await conn.execute(
                "SELECT pg_catalog.current_setting('search_path') AS p,"
                " pg_catalog.current_setting('role') AS r,"
                " pg_catalog.current_setting('default_transaction_read_only') AS ro")
            row = await cur.fetchone()
            await conn.execute("SET role = none")
            await conn.execute("SET default_transaction_read_only = off")
            await conn.execute(SAFE_SEARCH_PATH)
            conn.add_notice_handler(errors.notice_handler)
            try:
                yield conn
            finally:
                conn.remove_notice_handler(errors.notice_handler)
                if row and not conn.closed and (conn.info.transaction_status
                                                == psycopg.pq.TransactionStatus.IDLE):
                    await conn.execute(
                        "SELECT pg_catalog.set_config('search_path', %s, false),"
                        " pg_catalog.set_config('default_transaction_read_only', %s, false)",
                        [row["p"], row["ro"]])
                    await conn.execute(sql.SQL("SET role = {}").format(
                        sql.Identifier(row["r"]) if row["r"] != "none" else sql.SQL("none")))
                    await conn.set_autocommit(saved[0])
                    conn.row_factory = saved[1]
        except psycopg.Error as exc:
            raise errors.from_psycopg(exc) from None

    async def _one(self, query: str, args: Any = ()) -> dict[str, Any] | None:
        async with self.connect() as conn:
            cur = await conn.execute(query, args)
            return await cur.fetchone()

    @staticmethod
    async def _wait_published(conn: psycopg.AsyncConnection[dict[str, Any]],
                              timeout: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            cur = await conn.execute(
                "SELECT s.state, s.version = v.version AS current"
                "  FROM pgwarden.policy_status() s, pgwarden.policy_version v")
            row = await cur.fetchone()
            if row is not None and row["state"] == "loaded" and row["current"]:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)

    # -- branches ----------------------------------------------------------------
    async def branches(self) -> list[Branch]:
        """Every branch, by name.

        >>> [b.name for b in await project.branches()]        # doctest: +SKIP
        ['control', 'dev', 'shop']
        """
        async with self.connect() as conn:
            await conn.execute("SELECT pgwarden.sync_branches()")
            cur = await conn.execute("SELECT * FROM pgwarden.branches ORDER BY name")
            return [branch_from_row(r) for r in await cur.fetchall()]

    async def branch(self, name: str) -> Branch:
        """One branch; :class:`~pgwarden.errors.NotFound` when there is none.

        >>> (await project.branch("shop")).protected          # doctest: +SKIP
        True
        """
        async with self.connect() as conn:
            return await self._get_branch(conn, name)

    async def _get_branch(self, conn: psycopg.AsyncConnection[dict[str, Any]],
                          name: str) -> Branch:
        await conn.execute("SELECT pgwarden.sync_branches()")
        cur = await conn.execute("SELECT * FROM pgwarden.branches WHERE name = %s", [name])
        row = await cur.fetchone()
        if row is None:
            raise errors.NotFound(f'branch "{name}" does not exist',
                                  hint="SELECT name FROM pgwarden.branches lists the branches.")
        return branch_from_row(row)

    async def register_branch(self, database: str, parent: str | None = None,
                              name: str | None = None) -> Branch:
        """Make an existing database a branch (a root branch without ``parent``).

        >>> await project.register_branch("shop")               # doctest: +SKIP
        """
        async with self.connect() as conn:
            cur = await conn.execute("SELECT pgwarden.register_branch(%s, %s, %s) AS name",
                                     [database, parent, name])
            row = await cur.fetchone()
            assert row is not None
            return await self._get_branch(conn, row["name"])

    async def _protection(self, name: str, function: str) -> Branch:
        async with self.connect() as conn:
            await conn.execute(f"SELECT pgwarden.{function}(%s)", [name])
            await self._wait_published(conn)
            return await self._get_branch(conn, name)

    async def protect(self, name: str) -> Branch:
        """Protect a branch (no delete, reset or cutting off; own credentials for children).

        >>> (await project.protect("shop")).protected          # doctest: +SKIP
        True
        """
        return await self._protection(name, "protect_branch")

    async def unprotect(self, name: str) -> Branch:
        """Lift the protection of a branch.

        >>> (await project.unprotect("shop")).protected        # doctest: +SKIP
        False
        """
        return await self._protection(name, "unprotect_branch")

    # -- endpoints ---------------------------------------------------------------
    async def endpoints(self, branch: str | None = None) -> list[Endpoint]:
        """The endpoints (of one branch).

        >>> [e.name for e in await project.endpoints("dev")]  # doctest: +SKIP
        ['dev', 'dev-ro']
        """
        async with self.connect() as conn:
            cur = await conn.execute(
                "SELECT * FROM pgwarden.endpoints WHERE %(b)s::text IS NULL OR branch = %(b)s"
                " ORDER BY branch, is_default DESC, name", {"b": branch})
            return [Endpoint(**r) for r in await cur.fetchall()]

    async def endpoint(self, name: str) -> Endpoint:
        """One endpoint; :class:`~pgwarden.errors.NotFound` when there is none.

        >>> (await project.endpoint("dev-ro")).kind            # doctest: +SKIP
        'read_only'
        """
        row = await self._one("SELECT * FROM pgwarden.endpoints WHERE name = %s", [name])
        if row is None:
            raise errors.NotFound(f'endpoint "{name}" does not exist',
                                  hint="SELECT name, branch FROM pgwarden.endpoints lists the "
                                       "endpoints.")
        return Endpoint(**row)

    async def _endpoint_call(self, name: str, query: str, args: list[Any]) -> Endpoint:
        async with self.connect() as conn:
            await conn.execute(query, args)
            await self._wait_published(conn)
        return await self.endpoint(name)

    async def create_endpoint(self, branch: str, name: str, kind: EndpointKind = "read_write",
                              max_connections: int | None = None) -> Endpoint:
        """Add an endpoint to a branch.

        >>> await project.create_endpoint("dev", "dev-ro", "read_only", 10)  # doctest: +SKIP
        """
        return await self._endpoint_call(name, "SELECT pgwarden.create_endpoint(%s, %s, %s, %s)",
                                         [branch, name, kind, max_connections])

    async def suspend_endpoint(self, name: str) -> Endpoint:
        """Refuse new connections through an endpoint.

        >>> (await project.suspend_endpoint("dev-ro")).suspended  # doctest: +SKIP
        True
        """
        return await self._endpoint_call(name, "SELECT pgwarden.suspend_endpoint(%s)", [name])

    async def resume_endpoint(self, name: str) -> Endpoint:
        """Accept connections through an endpoint again.

        >>> (await project.resume_endpoint("dev-ro")).suspended   # doctest: +SKIP
        False
        """
        return await self._endpoint_call(name, "SELECT pgwarden.resume_endpoint(%s)", [name])

    async def set_endpoint_limit(self, name: str, max_connections: int | None) -> Endpoint:
        """Change an endpoint's connection limit (``None``: no limit).

        >>> (await project.set_endpoint_limit("dev-ro", 5)).max_connections  # doctest: +SKIP
        5
        """
        return await self._endpoint_call(name, "SELECT pgwarden.set_endpoint_limit(%s, %s)",
                                         [name, max_connections])

    async def drop_endpoint(self, name: str) -> None:
        """Drop an endpoint (refused on protected branches).

        >>> await project.drop_endpoint("dev-ro")              # doctest: +SKIP
        """
        async with self.connect() as conn:
            await conn.execute("SELECT pgwarden.drop_endpoint(%s)", [name])
            await self._wait_published(conn)

    # -- branch roles ------------------------------------------------------------
    async def branch_roles(self, branch: str | None = None) -> list[BranchRole]:
        """The branch roles (of one branch), never their passwords.

        >>> [r.role for r in await project.branch_roles("dev")]  # doctest: +SKIP
        ['app@dev']
        """
        async with self.connect() as conn:
            cur = await conn.execute(
                "SELECT * FROM pgwarden.branch_roles WHERE %(b)s::text IS NULL OR branch = %(b)s"
                " ORDER BY branch, role", {"b": branch})
            return [BranchRole(**r) for r in await cur.fetchall()]


    # -- operations that copy or drop databases (a worker thread) ----------------
    async def create_branch(self, name: str, parent: str, *, database: str | None = None,
                            strategy: CopyStrategy = "auto", jobs: int = 1,
                            progress: Progress | None = None,
                            on_snapshot: Callable[[str], None] | None = None) -> BranchCreated:
        """Copy ``parent`` into a new branch ``name`` (:meth:`pgwarden.Project.create_branch`).

        >>> created = await project.create_branch("dev", "shop", strategy="online")  # doctest: +SKIP
        >>> created.strategy, [c.role for c in created.credentials]                  # doctest: +SKIP
        ('online', ['app@dev'])
        """
        return await asyncio.to_thread(self.sync.create_branch, name, parent, database=database,
                                       strategy=strategy, jobs=jobs, progress=progress,
                                       on_snapshot=on_snapshot)

    async def reset_branch(self, name: str, *, strategy: CopyStrategy = "auto", jobs: int = 1,
                           progress: Progress | None = None) -> Branch:
        """Replace a branch's contents with a fresh copy of its parent.

        >>> (await project.reset_branch("dev")).name                # doctest: +SKIP
        'dev'
        """
        return await asyncio.to_thread(self.sync.reset_branch, name, strategy=strategy,
                                       jobs=jobs, progress=progress)

    async def delete_branch(self, name: str) -> None:
        """Drop a branch's database, endpoints and branch roles.

        >>> await project.delete_branch("dev")                      # doctest: +SKIP
        """
        await asyncio.to_thread(self.sync.delete_branch, name)

    async def project_deletion_plan(self, *,
                                    drop_registered: bool = False) -> list[ProjectDeletion]:
        """What delete_project would drop and keep (:meth:`pgwarden.Project.project_deletion_plan`).

        >>> [(d.branch, d.drop) for d in await project.project_deletion_plan()]  # doctest: +SKIP
        [('dev', True), ('shop', False)]
        """
        return await asyncio.to_thread(
            functools.partial(self.sync.project_deletion_plan, drop_registered=drop_registered))

    async def delete_project(self, *, drop_registered: bool = False) -> list[ProjectDeletion]:
        """Drop the databases pgwarden made and the extension, keep registered ones
        (refused while one is protected).

        >>> [(d.branch, d.drop) for d in await project.delete_project()]  # doctest: +SKIP
        [('dev', True), ('shop', False)]
        """
        return await asyncio.to_thread(
            functools.partial(self.sync.delete_project, drop_registered=drop_registered))

    async def recover(self) -> list[str]:
        """Finish or undo interrupted branch operations (:meth:`pgwarden.Project.recover`).

        >>> await project.recover()                                 # doctest: +SKIP
        ['interrupted reset of branch "dev" undone, the branch is as before: dropped database pgw_reset_3f9c2a1b7e04']
        """
        return await asyncio.to_thread(self.sync.recover)

    async def carry_privileges(self, name: str) -> int:
        """Carry the parent roles' privileges to the branch roles inside ``name``.

        >>> await project.carry_privileges("dev")                   # doctest: +SKIP
        12
        """
        return await asyncio.to_thread(self.sync.carry_privileges, name)

    async def connection_string(self, branch: str, *, role: str | None = None,
                                endpoint: str | None = None, password: str | None = None,
                                host: str | None = None, port: int | None = None,
                                sslrootcert: str | None = None) -> str:
        """A verify-full URI for a branch (:meth:`pgwarden.Project.connection_string`).

        >>> await project.connection_string("dev", host="db.example.com")  # doctest: +SKIP
        'postgresql://postgres@db.example.com:5432/dev?sslmode=verify-full&sslrootcert=...'
        """
        return await asyncio.to_thread(self.sync.connection_string, branch, role=role,
                                       endpoint=endpoint, password=password, host=host,
                                       port=port, sslrootcert=sslrootcert)


def _threaded(name: str) -> Callable[..., Awaitable[Any]]:
    method = getattr(Project, name)

    @functools.wraps(method)
    async def run(self: AsyncProject, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.sync, name), *args, **kwargs)

    run.__doc__ = (f"Awaitable :meth:`pgwarden.Project.{name}` (runs in a worker thread: it "
                   f"copies or drops databases step by step).\n\n{method.__doc__ or ''}")
    return run


#: Operations that run the synchronous Project in a thread (they copy or drop
#: databases with CREATE DATABASE, pg_dump and pg_restore), and any operation
#: of Project not written for asyncio above.
THREADED = sorted(name for name, member in vars(Project).items()
                  if not name.startswith("_") and callable(member)
                  and name not in ("connect", "close") and name not in vars(AsyncProject))
for _name in THREADED:
    setattr(AsyncProject, _name, _threaded(_name))
