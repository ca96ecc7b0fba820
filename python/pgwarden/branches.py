"""Branches, endpoints and branch credentials from Python.

``Project(dsn)`` talks to the pgwarden control database (``dsn`` names it) and
drives the server-side functions of the install script.  The protections are
enforced by the server (ProcessUtility hook, triggers, the connection gate);
this module only sequences the steps that cannot run inside one SQL function:
``CREATE DATABASE`` / ``DROP DATABASE``, the online copy, and the per-branch
locks and recovery that make create, reset and delete crash-safe.

The rest lives beside it: :mod:`pgwarden.model` (the data classes and the
read queries), :mod:`pgwarden._copy` (template and online copies, carrying
privileges) and :mod:`pgwarden.endpoints` (endpoints, branch roles and
connection strings, mixed into ``Project``); their public names are
importable from here as before.

Identifiers are always composed with :mod:`psycopg.sql`.  Generated passwords
are returned once, in :class:`Credential` objects whose ``repr`` hides them.

Failures raise :mod:`pgwarden.errors` classes (``ProtectedBranchError``,
``NotFound``, ...), the same class whichever helper meets them; server
WARNINGs are issued through :mod:`warnings`, NOTICEs logged to the
``pgwarden.server`` logger.

>>> with Project("host=/run/postgresql dbname=control") as project:
...     [b.name for b in project.branches()]
['control', 'shop']
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from . import errors
from ._copy import (
    SAFE_OPTIONS,
    SAFE_SEARCH_PATH,
    Copier,
    carry_one,
    drop_database,
    pause_point,
    pg_bindir,
    template_copy,
)
from ._progress import Progress
from .audit import AuditEvent, list_events
from .endpoints import EndpointsMixin
from .errors import CarryError, UnsafeCopyError
from .model import (
    ENDPOINT_KINDS,
    STRATEGIES,
    Branch,
    BranchCreated,
    BranchRole,
    CopyStrategy,
    Credential,
    Endpoint,
    EndpointKind,
    ProjectDeletion,
    branch_connection_string,
    branch_from_row,
    escape_option_value,
    wait_published,
)

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

__all__ = [
    "ENDPOINT_KINDS",
    "SAFE_OPTIONS",
    "SAFE_SEARCH_PATH",
    "STRATEGIES",
    "Branch",
    "BranchCreated",
    "BranchRole",
    "CarryError",
    "CopyStrategy",
    "Credential",
    "Endpoint",
    "EndpointKind",
    "Progress",
    "Project",
    "ProjectDeletion",
    "UnsafeCopyError",
    "branch_connection_string",
    "escape_option_value",
]


def _dsn_of(params: dict[str, Any]) -> str:
    return psycopg.conninfo.make_conninfo(
        "", **{k: str(v) for k, v in params.items() if v is not None})


class Project(EndpointsMixin):
    """The pgwarden project of one cluster, reached through its control database.

    ``source`` says how to reach the control database: a libpq connection
    string or URI (a new connection for each operation, or one for a whole
    ``with`` block), an open :class:`psycopg.Connection` (used as it is, left
    open; it must not be inside a transaction) or a
    :class:`psycopg_pool.ConnectionPool` (a connection is borrowed for each
    operation).  The role must be a superuser or a member of
    ``pgwarden_admin`` with CREATEDB (online copies read every object of the
    parent: use a superuser).

    ``host`` and ``sslrootcert`` go into the connection URIs of new branch
    credentials: the host name clients use (one the server certificate
    names) and the CA certificate that verifies it.  Without them the URIs
    use the DSN's TCP host, else ``localhost``, and the DSN's
    ``sslrootcert``, else the CA ``pgwarden tls init`` wrote into the data
    directory.

    >>> with Project("host=/run/postgresql dbname=control", host="db.example.com") as project:
    ...     project.protect("shop")
    ...     created = project.create_branch("dev", "shop")
    ...     [c.uri for c in created.credentials]
    ['postgresql://app%40dev:pgw_...@db.example.com:5432/dev?sslmode=verify-full&sslrootcert=...']
    >>> Project(psycopg.connect("dbname=control", autocommit=True)).branch("dev").protected
    False
    """

    def __init__(self, source: str | psycopg.Connection[Any] | ConnectionPool[Any] = "", *,
                 bindir: str | os.PathLike[str] | None = None, host: str | None = None,
                 sslrootcert: str | os.PathLike[str] | None = None) -> None:
        self._conn: psycopg.Connection[Any] | None = None
        self._pool: ConnectionPool[Any] | None = None
        self._held: psycopg.Connection[Any] | None = None
        self._depth = 0
        if isinstance(source, str):
            self.dsn = source
        elif isinstance(source, psycopg.Connection):
            self._conn = source
            params: dict[str, Any] = source.info.get_parameters()
            if source.info.password:
                params["password"] = source.info.password
            self.dsn = _dsn_of(params)
        elif hasattr(source, "connection") and hasattr(source, "conninfo"):
            self._pool = source
            conninfo = source.conninfo
            params = psycopg.conninfo.conninfo_to_dict(conninfo() if callable(conninfo)
                                                       else conninfo)
            # The pool's connection keywords that are libpq's (not autocommit,
            # row_factory, prepare_threshold: psycopg's own).
            params.update({k: v for k, v in (getattr(source, "kwargs", None) or {}).items()
                           if isinstance(v, (str, int)) and not isinstance(v, bool)
                           and k not in ("prepare_threshold",)})
            self.dsn = _dsn_of(params)
        else:
            raise TypeError("Project needs a DSN, a psycopg.Connection or a "
                            f"psycopg_pool.ConnectionPool, not {type(source).__name__}")
        self.host = host
        self.sslrootcert = None if sslrootcert is None else str(sslrootcert)
        self._bindir = Path(bindir) if bindir else None
        #: What the operations of this object found interrupted and finished
        #: or undid first (see recover()), one line each.
        self.recovered: list[str] = []

    def __repr__(self) -> str:
        try:
            params = psycopg.conninfo.conninfo_to_dict(self.dsn)
        except psycopg.Error:
            params = {}
        shown = " ".join(f"{k}={v}" for k, v in params.items() if k != "password")
        via = ("connection" if self._conn is not None
               else "pool" if self._pool is not None else "dsn")
        extra = f", host={self.host!r}" if self.host else ""
        return f"<pgwarden.Project {via} {shown!r}{extra}>"

    def __enter__(self) -> Self:
        """Within ``with Project(dsn) as project:`` operations share one connection."""
        if self._conn is None and self._pool is None and self._held is None:
            self._held = self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def close(self) -> None:
        """Close the connection a ``with`` block holds (never one you passed in).

        >>> project = Project("dbname=control").__enter__()
        >>> project.close()
        """
        self.__exit__(None, None, None)

    # -- plumbing --------------------------------------------------------------
    def _open(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row,
                                   options=self._options())
        except psycopg.Error as exc:
            raise errors.from_psycopg(exc) from None
        return errors.attach(conn)

    @contextmanager
    def _prepared(self, conn: psycopg.Connection[Any],
                  own: bool) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """Autocommit, dict rows and the safe search_path on a connection for the
        length of one operation; a connection that is not ours is put back as it was."""
        if own:
            conn.execute(SAFE_SEARCH_PATH)
            yield conn
            return
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise errors.StateError(
                "Project needs a connection outside a transaction (it runs CREATE DATABASE)",
                hint="commit or roll back first, or pass a DSN")
        saved = (conn.autocommit, conn.row_factory)
        conn.autocommit = True
        conn.row_factory = dict_row
        # What SAFE_OPTIONS gives the helper's own connections, for this
        # operation only: the session's role, the catalog first, writable.
        row = conn.execute(
            "SELECT pg_catalog.current_setting('search_path') AS p,"
            " pg_catalog.current_setting('role') AS r,"
            " pg_catalog.current_setting('default_transaction_read_only') AS ro").fetchone()
        conn.execute("SET role = none")
        conn.execute("SET default_transaction_read_only = off")
        conn.execute(SAFE_SEARCH_PATH)
        try:
            with errors.server_messages(conn):
                yield conn
        finally:
            if not conn.closed:
                if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and row:
                    conn.execute("SELECT pg_catalog.set_config('search_path', %s, false),"
                                 " pg_catalog.set_config('default_transaction_read_only', %s,"
                                 " false)", [row["p"], row["ro"]])
                    conn.execute(sql.SQL("SET role = {}").format(
                        sql.Identifier(row["r"]) if row["r"] != "none" else sql.SQL("none")))
                conn.autocommit, conn.row_factory = saved

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A connection to the control database for one operation (autocommit,
        dict rows, ``search_path = pg_catalog, pg_temp``); psycopg errors
        raised inside the block leave it as :mod:`pgwarden.errors` classes.

        >>> with project.connect() as conn:
        ...     conn.execute("SELECT count(*) AS n FROM pgwarden.branches").fetchone()
        {'n': 2}
        """
        try:
            if self._conn is not None or self._held is not None:
                conn = self._conn if self._conn is not None else self._held
                assert conn is not None
                with self._prepared(conn, own=self._conn is None) as c:
                    yield c
            elif self._pool is not None:
                with self._pool.connection() as pooled, self._prepared(pooled, own=False) as c:
                    yield c
            else:
                with self._open() as fresh, self._prepared(fresh, own=True) as c:
                    yield c
        except psycopg.Error as exc:
            raise errors.from_psycopg(exc) from None

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = pg_bindir()
        return self._bindir

    def _options(self) -> str:
        """The DSN's own startup options, then SAFE_OPTIONS (later ones win)."""
        given = psycopg.conninfo.conninfo_to_dict(self.dsn).get("options")
        return f"{given} {SAFE_OPTIONS}" if given else SAFE_OPTIONS

    def _conninfo(self, dbname: str) -> tuple[str, dict[str, str]]:
        """Connection string for another database of the cluster, and the
        environment that carries the password (never on a command line)."""
        params = psycopg.conninfo.conninfo_to_dict(self.dsn)
        env = dict(os.environ)
        pw = params.pop("password", None)
        if pw is not None:
            env["PGPASSWORD"] = str(pw)
        params["dbname"] = dbname
        params["options"] = self._options()
        return psycopg.conninfo.make_conninfo("", **params), env

    def _fetch_one(self, conn: psycopg.Connection[dict[str, Any]], query: sql.Composed | str,
                   args: Sequence[Any] = ()) -> dict[str, Any]:
        row = conn.execute(query, args).fetchone()
        assert row is not None
        return row

    # -- audit -------------------------------------------------------------------
    def audit(self, *, since: str | dt.timedelta | dt.datetime | None = None,
              action: str | Sequence[str] | None = None, object: str | None = None,
              limit: int | None = None) -> list[AuditEvent]:
        """The audit trail, oldest first (see :func:`pgwarden.audit.list_events`).

        >>> [e.action for e in project.audit(since="1h", action="branch.*")]
        ['branch.protect', 'branch.create']
        """
        with self.connect() as conn:
            return list_events(conn, since=since, action=action, object=object, limit=limit)

    # -- branches ----------------------------------------------------------------
    def branches(self) -> list[Branch]:
        """Every branch, by name (databases created or dropped by hand are synced first).

        >>> [b.name for b in project.branches()]
        ['control', 'shop']
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.sync_branches()")
            rows = conn.execute("SELECT * FROM pgwarden.branches ORDER BY name").fetchall()
        return [branch_from_row(r) for r in rows]

    def branch(self, name: str) -> Branch:
        """One branch; :class:`~pgwarden.errors.NotFound` when there is none.

        >>> project.branch("shop").protected
        True
        >>> project.branch("nope")
        Traceback (most recent call last):
        pgwarden.errors.NotFound: branch "nope" does not exist
        """
        with self.connect() as conn:
            return self._get_branch(conn, name)

    def _get_branch(self, conn: psycopg.Connection[dict[str, Any]], name: str) -> Branch:
        conn.execute("SELECT pgwarden.sync_branches()")
        row = conn.execute("SELECT * FROM pgwarden.branches WHERE name = %s", [name]).fetchone()
        if row is None:
            raise errors.NotFound(f'branch "{name}" does not exist',
                                  hint="SELECT name FROM pgwarden.branches lists the branches.")
        return branch_from_row(row)

    def register_branch(self, database: str, parent: str | None = None,
                        name: str | None = None) -> Branch:
        """Make an existing database a branch: a root branch, or a child of ``parent``.

        >>> project.register_branch("shop").parent is None
        True
        """
        with self.connect() as conn:
            row = self._fetch_one(conn, "SELECT pgwarden.register_branch(%s, %s, %s) AS name",
                                  [database, parent, name])
            return self._get_branch(conn, row["name"])

    def protect(self, name: str) -> Branch:
        """Protect a branch: it cannot be deleted, reset or cut off, and its children get their own credentials.

        >>> project.protect("shop").protected
        True
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.protect_branch(%s)", [name])
            wait_published(conn)
            return self._get_branch(conn, name)

    def unprotect(self, name: str) -> Branch:
        """Lift the protection of a branch.

        >>> project.unprotect("shop").protected
        False
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.unprotect_branch(%s)", [name])
            wait_published(conn)
            return self._get_branch(conn, name)

    def create_branch(
        self,
        name: str,
        parent: str,
        *,
        database: str | None = None,
        strategy: CopyStrategy = "auto",
        jobs: int = 1,
        progress: Progress | None = None,
        on_snapshot: Callable[[str], None] | None = None,
    ) -> BranchCreated:
        """Copy branch ``parent`` into a new database and register it as ``name``.

        ``template`` uses CREATE DATABASE ... TEMPLATE (fails if anyone is
        connected to the parent; nobody is ever disconnected), ``online`` a
        snapshot-consistent pg_dump/pg_restore while the parent stays in use,
        ``auto`` the template copy when nobody is connected, else online.
        For a protected parent the result carries the new branch roles'
        credentials; they are not stored anywhere.  ``on_snapshot(id)`` is
        called with the exported snapshot of an online copy while it is held
        (to compare the copy with the parent at that snapshot).

        >>> created = project.create_branch("dev", "shop", strategy="online", jobs=4,
        ...                                 progress=lambda phase, done, total: None)
        >>> created.branch.parent, created.strategy
        ('shop', 'online')
        """
        if strategy not in STRATEGIES:
            raise errors.InvalidValue(f"strategy must be one of {', '.join(STRATEGIES)}")
        if jobs < 1:
            raise errors.InvalidValue("jobs must be at least 1")
        db = database or name
        started = time.monotonic()
        with (self.connect() as conn, self._locked(conn, name),
              self._locked(conn, parent, shared=True)):
            copy = self._fetch_one(conn, "SELECT * FROM pgwarden._begin_operation(%s, 'create', %s)",
                                   [name, db])["new_database"]
            try:
                src = self._fetch_one(conn, "SELECT * FROM pgwarden._copy_source(%s)", [parent])
                pause_point("create:copy")
                chosen, lsn = self._copy(conn, parent, src, copy, strategy, jobs, progress,
                                         on_snapshot)
                pause_point("create:copied")
                # The copy takes its name and becomes the branch in one transaction.
                with conn.transaction():
                    conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(copy), sql.Identifier(db)))
                    rows = conn.execute(
                        "SELECT * FROM pgwarden._finish_create(%s, %s, %s, %s, %s)",
                        [name, parent, db, lsn, chosen]).fetchall()
                    conn.execute("SELECT pgwarden._create_swapped(%s)", [name])
            except BaseException:
                drop_database(conn, copy)
                with suppress(psycopg.Error):
                    conn.execute("SELECT pgwarden._abort_operation(%s)", [name])
                raise
            pause_point("create:swapped")
            if rows:
                try:
                    self.carry_privileges(name)
                except BaseException:
                    conn.execute("SELECT pgwarden._end_operation(%s)", [name])
                    self._delete_locked(conn, name)
                    raise
            conn.execute("SELECT pgwarden._end_operation(%s)", [name])
            branch = self._get_branch(conn, name)
            host, port, rootcert = self._endpoint_address(conn)
            wait_published(conn)
        creds = tuple(
            Credential(role=r["role"], parent_role=r["parent_role"], branch=name, database=db,
                       password=r["password"],
                       uri=branch_connection_string(host=host, port=port, database=db,
                                                    user=r["role"], password=r["password"],
                                                    sslrootcert=rootcert))
            for r in rows)
        return BranchCreated(branch=branch, strategy=chosen,
                             seconds=time.monotonic() - started, credentials=creds)

    def reset_branch(self, name: str, *, strategy: CopyStrategy = "auto", jobs: int = 1,
                     progress: Progress | None = None) -> Branch:
        """Replace the branch's contents with a fresh copy of its parent.

        The branch keeps its name, database name, endpoints and credentials;
        sessions connected to it are closed, the parent's never are.  The copy
        is made under a new name; one transaction renames the old database
        aside, the copy into place and points the branch at it; the old
        database is dropped after that.  Killed at any point, the branch is
        as before or as after, and the next operation finishes or undoes it.

        >>> project.reset_branch("dev").parent_lsn
        '0/3000148'
        """
        if strategy not in STRATEGIES:
            raise errors.InvalidValue(f"strategy must be one of {', '.join(STRATEGIES)}")
        with self.connect() as conn, self._locked(conn, name):
            row = self._fetch_one(conn, "SELECT * FROM pgwarden._begin_operation(%s, 'reset')",
                                  [name])
            database, parent = row["database"], row["parent"]
            copy, aside = row["new_database"], row["old_database"]
            try:
                with self._locked(conn, parent, shared=True):
                    src = self._fetch_one(conn, "SELECT * FROM pgwarden._copy_source(%s)", [parent])
                    pause_point("reset:copy")
                    chosen, lsn = self._copy(conn, parent, src, copy, strategy, jobs, progress)
                pause_point("reset:copied")
                self._swap_reset(conn, name, database, copy, aside, lsn, chosen)
            except BaseException:
                drop_database(conn, copy)
                with suppress(psycopg.Error):
                    conn.execute("SELECT pgwarden._abort_operation(%s)", [name])
                raise
            pause_point("reset:swapped")
            self._finish_swapped_reset(conn, name, aside)
            wait_published(conn)
            return self._get_branch(conn, name)

    def _swap_reset(self, conn: psycopg.Connection[dict[str, Any]], name: str,
                    database: str | None, copy: str, aside: str, lsn: str, strategy: str) -> None:
        """One transaction: the old database aside, the copy in its place, the branch on it.

        Renaming a database needs it unused: its sessions are closed first
        (as DROP DATABASE ... WITH (FORCE) would, with the caller's rights),
        and the transaction is tried again while new ones keep arriving.
        """
        target = database or name
        for attempt in range(50):
            try:
                with conn.transaction():
                    if database is not None:
                        conn.execute("SELECT pg_catalog.pg_terminate_backend(pid, 5000)"
                                     "  FROM pg_catalog.pg_stat_activity"
                                     " WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid()",
                                     [database])
                        conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                            sql.Identifier(database), sql.Identifier(aside)))
                    conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(copy), sql.Identifier(target)))
                    conn.execute("SELECT pgwarden._reset_swapped(%s, %s, %s, %s)",
                                 [name, target, lsn, strategy])
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def _finish_swapped_reset(self, conn: psycopg.Connection[dict[str, Any]], name: str,
                              aside: str | None) -> None:
        # The old database goes first: it belongs to the branch roles (the
        # previous carry made them its owners), and carrying refuses while a
        # branch role owns a database other than its branch's.  Killed
        # between the two, recovery drops (nothing left) and carries again.
        if aside is not None:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(aside)))
        pause_point("reset:dropped")
        self.carry_privileges(name)
        conn.execute("SELECT pgwarden._end_operation(%s)", [name])

    def delete_branch(self, name: str) -> None:
        """Drop the branch's database, its endpoints and its branch roles.

        >>> project.delete_branch("dev")
        >>> project.delete_branch("shop")          # protected
        Traceback (most recent call last):
        pgwarden.errors.ProtectedBranchError: branch "shop" is protected: deleting it is refused
        """
        with self.connect() as conn, self._locked(conn, name):
            self._delete_locked(conn, name)

    def _delete_locked(self, conn: psycopg.Connection[dict[str, Any]], name: str) -> None:
        row = self._fetch_one(conn, "SELECT * FROM pgwarden._begin_operation(%s, 'delete')",
                              [name])
        pause_point("delete:begun")
        try:
            if row["database"] is not None:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                             .format(sql.Identifier(row["database"])))
        except BaseException:
            with suppress(psycopg.Error):
                conn.execute("SELECT pgwarden._abort_operation(%s)", [name])
            raise
        pause_point("delete:dropped")
        with conn.transaction():
            conn.execute("SELECT pgwarden._finish_delete(%s)", [name])
            conn.execute("SELECT pgwarden._end_operation(%s)", [name])

    def project_deletion_plan(self, *, drop_registered: bool = False) -> list[ProjectDeletion]:
        """What delete_project would do, children first, without doing it.

        Databases pgwarden made (branches created or reset by pgwarden, and
        plain CREATE DATABASE ... TEMPLATE copies of a branch) are dropped;
        registered databases are kept (only unregistered) unless
        ``drop_registered``.  Refused while a branch is protected, and for a
        role that may not drop the extension.

        >>> [(d.branch, d.drop) for d in project.project_deletion_plan()]
        [('dev', True), ('shop', False)]
        """
        with self.connect() as conn:
            return self._deletion_plan(conn, drop_registered)

    @staticmethod
    def _deletion_plan(conn: psycopg.Connection[dict[str, Any]],
                       drop_registered: bool) -> list[ProjectDeletion]:
        rows = conn.execute("SELECT * FROM pgwarden._project_delete_plan(%s)",
                            [drop_registered]).fetchall()
        return [ProjectDeletion(branch=r["branch"], database=r["database"],
                                strategy=r["strategy"], drop=r["drop_database"]) for r in rows]

    def delete_project(self, *, drop_registered: bool = False) -> list[ProjectDeletion]:
        """Drop the databases pgwarden made (children first), unregister the
        others, and drop the extension; returns what was done to each branch.

        Every branch is locked first (55P03 if another session is changing
        one) and interrupted operations are finished or undone.  Refused by
        the server while any branch is protected.  The control database
        itself is kept.

        >>> [(d.branch, d.database, d.drop) for d in project.delete_project()]
        [('dev', 'dev', True), ('shop', 'shop', False)]
        """
        with self.connect() as conn, ExitStack() as locks:
            # the server's refusals (a protected branch, a role that may not
            # drop the extension) first, in their own words
            self._deletion_plan(conn, drop_registered)
            names = [r["name"] for r in conn.execute(
                "SELECT name FROM pgwarden.branches UNION SELECT branch FROM pgwarden.branch_operations"
                " ORDER BY 1").fetchall()]
            for n in names:
                locks.enter_context(self._locked(conn, n))
            plan = self._deletion_plan(conn, drop_registered)
            for item in plan:
                if item.drop:
                    self._delete_locked(conn, item.branch)
                else:
                    conn.execute("SELECT pgwarden._unregister_branch(%s)", [item.branch])
            conn.execute("DROP EXTENSION pgwarden")
            return plan

    # -- operations: serialised per branch, recoverable ---------------------------
    @contextmanager
    def _locked(self, conn: psycopg.Connection[dict[str, Any]], name: str, *,
                shared: bool = False) -> Iterator[None]:
        """Hold the branch name's operation lock for this block (SQLSTATE 55P03
        when another session holds it); exclusively, an interrupted operation
        of that branch is finished or undone first."""
        try:
            conn.execute("SELECT pgwarden._lock_branch(%s, %s)", [name, shared])
        except psycopg.errors.UndefinedFunction as exc:
            row = conn.execute("SELECT extversion FROM pg_catalog.pg_extension"
                               " WHERE extname = 'pgwarden'").fetchone()
            raise errors.StateError(
                f"the pgwarden SQL objects in this database are version "
                f"{row['extversion'] if row else 'none'}, older than this helper needs",
                hint="Run ALTER EXTENSION pgwarden UPDATE in the control database.") from exc
        try:
            if not shared:
                message = self._recover_locked(conn, name)
                if message:
                    self.recovered.append(message)
            yield
        finally:
            with suppress(psycopg.Error):
                conn.execute("SELECT pgwarden._unlock_branch(%s, %s)", [name, shared])

    def _recover_locked(self, conn: psycopg.Connection[dict[str, Any]], name: str) -> str | None:
        row = self._fetch_one(conn, "SELECT * FROM pgwarden._operation_leftover(%s)", [name])
        op, step, drop = row["operation"], row["step"], row["drop_database"]
        if op is None:
            return None
        if drop is not None:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(drop)))
        dropped = f": dropped database {drop}" if drop else ""
        if op == "delete" and step == "copying":
            conn.execute("SELECT pgwarden._abort_operation(%s)", [name])
            return (f'interrupted delete of branch "{name}" undone, the branch is as before'
                    " (another role started it)")
        if op == "delete":
            with conn.transaction():
                conn.execute("SELECT pgwarden._finish_delete(%s)", [name])
                conn.execute("SELECT pgwarden._end_operation(%s)", [name])
            return f'interrupted delete of branch "{name}" finished{dropped}'
        if step == "copying":
            conn.execute("SELECT pgwarden._abort_operation(%s)", [name])
            return f'interrupted {op} of branch "{name}" undone, the branch is as before{dropped}'
        self.carry_privileges(name)
        conn.execute("SELECT pgwarden._end_operation(%s)", [name])
        return f'interrupted {op} of branch "{name}" finished{dropped}'

    def recover(self) -> list[str]:
        """Finish or undo the operations a killed client or a crashed server left.

        An interrupted create or reset whose copy was not yet in place is
        undone (its copy dropped: the branch is as before); one whose copy
        was in place is finished (the old database dropped, privileges
        carried: the branch is as after); an interrupted delete is finished.
        Operations still running in a live session are left alone.  Every
        create, reset and delete does this first for its own branch.
        Returns what was done, one line each.

        >>> project.recover()
        ['interrupted reset of branch "dev" undone, the branch is as before: dropped database pgw_reset_3f9c2a1b7e04']
        """
        before = len(self.recovered)
        with self.connect() as conn:
            names = [r["branch"] for r in conn.execute(
                "SELECT branch FROM pgwarden.branch_operations WHERE NOT running"
                " ORDER BY started_at").fetchall()]
            for name in names:
                try:
                    with self._locked(conn, name):
                        pass
                except psycopg.errors.LockNotAvailable:
                    continue
        return self.recovered[before:]

    #: Carries one parent role's rights to its branch role, and makes a
    #: template copy: steps a subclass may wrap (the red-team tests do).
    _carry_one = staticmethod(carry_one)
    _template_copy = staticmethod(template_copy)

    def carry_privileges(self, name: str) -> int:
        """Give each branch role of ``name``, inside its branch, what its parent
        role holds there: ownership of the parent role's objects, the grants
        made to the parent role (or to a role whose privileges it has), its
        database privileges and its row-level security policies.

        Branch roles are members of no role, so this is how they act as
        their parent roles inside the child and nowhere else.  Runs in one
        transaction in the child; create and reset call it, and it repairs
        branches made by pgwarden 0.1.0.  Returns the number of statements.

        >>> project.carry_privileges("dev")
        7
        """
        with self.connect() as conn:
            branch = self._get_branch(conn, name)
            pairs = conn.execute(
                "SELECT role, parent_role FROM pgwarden.branch_roles WHERE branch = %s"
                " AND role IS NOT NULL AND parent_role IS NOT NULL ORDER BY role", [name]).fetchall()
        if not pairs or branch.database is None:
            return 0
        child_ci, env = self._conninfo(branch.database)
        done = 0
        with psycopg.connect(child_ci, password=env.get("PGPASSWORD")) as child:
            child.execute(SAFE_SEARCH_PATH)
            for pair in pairs:
                done += self._carry_one(child, branch.database, pair["parent_role"], pair["role"])
            child.commit()
        return done

    # -- copying -----------------------------------------------------------------
    def _copy(self, conn: psycopg.Connection[dict[str, Any]], parent: str, src: dict[str, Any],
              db: str, strategy: str, jobs: int, progress: Progress | None,
              on_snapshot: Callable[[str], None] | None = None) -> tuple[str, str]:
        """Copy the parent's database (``src``: _copy_source's row) into ``db``;
        the strategy used and the parent's WAL position of the copy."""
        copier = Copier(self.dsn, self._conninfo, lambda: self.bindir, self._template_copy)
        return copier.copy(conn, parent, src, db, strategy, jobs, progress, on_snapshot)


# Errors met outside ``connect()`` (the child database of carry_privileges, an
# online copy's own connections) leave every public operation as pgwarden's
# classes too, the endpoint operations mixed in included.
for _cls in (Project, EndpointsMixin):
    for _name, _member in list(vars(_cls).items()):
        if not _name.startswith("_") and _name not in ("connect", "close") and callable(_member):
            setattr(_cls, _name, errors.translated(_member))
