"""Branches, endpoints and branch credentials from Python.

``Project(dsn)`` talks to the pgwarden control database (``dsn`` names it) and
drives the server-side functions of the install script.  The protections are
enforced by the server (ProcessUtility hook, triggers, the connection gate);
this module only sequences the steps that cannot run inside one SQL function:
``CREATE DATABASE`` / ``DROP DATABASE`` and the online copy with
``pg_dump --snapshot`` and ``pg_restore``.

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
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Self

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from . import errors
from ._progress import Progress, Sampler
from .errors import CarryError, UnsafeCopyError

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

from .audit import AuditEvent, list_events

__all__ = [
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
]

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

#: Every connection the helper makes resolves names in the catalog first: a
#: database's owner chooses its search_path (ALTER DATABASE ... SET), and the
#: helper's queries must never find an operator or function of theirs.
SAFE_SEARCH_PATH = "SET search_path = pg_catalog, pg_temp"

#: Startup options of every connection the helper makes (psycopg, pg_dump,
#: pg_restore).  A client's options outrank ALTER DATABASE ... SET, which the
#: owner of a parent or child database chooses: ``role`` would make the
#: helper act as that owner (and fool the check for other roles' code, which
#: then no longer sees the owner's functions as someone else's), a read-only
#: default would make it fail half-way.
SAFE_OPTIONS = ("-c role=none -c search_path=pg_catalog,pg_temp"
                " -c default_transaction_read_only=off")

#: Built-in functions that are not immutable yet safe while rows are
#: restored: they read the clock or format a time, nothing else.  Every
#: other function that is neither immutable (and a superuser's) nor the
#: restoring role's own is refused: stable and volatile built-ins may run
#: SQL text (query_to_xml, table_to_xml, ts_stat), read other sessions
#: (pg_stat_get_backend_activity) or act with the restoring role's rights
#: (pg_terminate_backend, set_config).
CLOCK_FUNCTIONS = ("now", "statement_timestamp", "transaction_timestamp", "clock_timestamp",
                   "timeofday", "to_char", "date_trunc", "date_part", "timezone", "age")
#: Code that restoring a table's rows runs, as the restoring role: CHECK
#: constraints of tables and domains (NOT VALID ones too), generated
#: columns and partition keys (COPY into a partition checks its partition
#: constraint, which evaluates the keys of every level above it), whose
#: expressions call a function (directly or through an operator) that is
#: not the restoring role's own code, unless it is an immutable function of
#: a superuser or a built-in clock function.  pg_restore, run by the helper,
#: would execute it with the helper's privileges.  Built-ins and the members
#: of extensions are nobody's own code: the bootstrap superuser owns them,
#: including those of trusted extensions that any role may create.
FOREIGN_CODE_QUERY = """
WITH exprs AS (
    SELECT pg_catalog.format('constraint %I of %s', c.conname,
               CASE WHEN c.conrelid OPERATOR(pg_catalog.<>) 0
                    THEN 'table ' OPERATOR(pg_catalog.||) c.conrelid::pg_catalog.regclass::text
                    ELSE 'domain ' OPERATOR(pg_catalog.||) c.contypid::pg_catalog.regtype::text END)
               AS what, c.conbin::text AS tree
      FROM pg_catalog.pg_constraint c WHERE c.contype OPERATOR(pg_catalog.=) 'c'
    UNION ALL
    SELECT pg_catalog.format('generated column %I of table %s', a.attname,
                             d.adrelid::pg_catalog.regclass), d.adbin::text
      FROM pg_catalog.pg_attrdef d
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid OPERATOR(pg_catalog.=) d.adrelid AND a.attnum OPERATOR(pg_catalog.=) d.adnum
     WHERE a.attgenerated OPERATOR(pg_catalog.<>) ''
    UNION ALL
    SELECT pg_catalog.format('partition key of table %s', k.partrelid::pg_catalog.regclass),
           k.partexprs::text
      FROM pg_catalog.pg_partitioned_table k WHERE k.partexprs IS NOT NULL
), called AS (
    -- Read from the stored expression trees: pg_depend omits built-ins.
    SELECT e.what, m[2]::pg_catalog.oid AS fn
      FROM exprs e, pg_catalog.regexp_matches(e.tree,
           ':(funcid|opfuncid|hashfuncid|negfuncid|aggfnoid|winfnoid) ([0-9]+)', 'g') m
    UNION ALL
    SELECT e.what, o.oprcode::pg_catalog.oid
      FROM exprs e, pg_catalog.regexp_matches(e.tree, ':opno ([0-9]+)', 'g') m,
           pg_catalog.pg_operator o
     WHERE o.oid OPERATOR(pg_catalog.=) m[1]::pg_catalog.oid
    UNION ALL
    SELECT e.what, o.oprcode::pg_catalog.oid
      FROM exprs e, pg_catalog.regexp_matches(e.tree, ':opnos \\(o ([0-9 ]+)\\)', 'g') m,
           pg_catalog.unnest(pg_catalog.string_to_array(m[1], ' ')) n, pg_catalog.pg_operator o
     WHERE o.oid OPERATOR(pg_catalog.=) n::pg_catalog.oid
)
SELECT DISTINCT c.what, p.oid::pg_catalog.regprocedure::text AS function, r.rolname AS owner
  FROM called c
  JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) c.fn
  JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) p.proowner
 WHERE NOT (p.oid OPERATOR(pg_catalog.>=) 16384 AND r.rolname OPERATOR(pg_catalog.=) SESSION_USER
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x
                             WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                               AND x.objid OPERATOR(pg_catalog.=) p.oid
                               AND x.deptype OPERATOR(pg_catalog.=) 'e'))
   AND NOT (r.rolsuper AND p.provolatile OPERATOR(pg_catalog.=) 'i')
   AND NOT (p.oid OPERATOR(pg_catalog.<) 16384
            AND p.proname OPERATOR(pg_catalog.=) ANY ('{CLOCK_LIST}'::pg_catalog.name[]))
 ORDER BY 1, 2
""".replace("CLOCK_LIST", ",".join(CLOCK_FUNCTIONS))



#: Privileges held inside the child by a parent role, directly or through a
#: role whose privileges it has: (kind, object for GRANT ... ON, privilege,
#: grantable).  Read in the child, where a branch role must get them.
CHILD_GRANTS_QUERY = """
WITH acls AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS cls, c.oid AS obj, NULL::name AS col, a.*
      FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, t.attrelid, t.attname, a.*
      FROM pg_catalog.pg_attribute t, pg_catalog.aclexplode(t.attacl) a
     WHERE NOT t.attisdropped
    UNION ALL
    SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, NULL, a.*
      FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass, n.oid, NULL, a.*
      FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, y.oid, NULL, a.*
      FROM pg_catalog.pg_type y, pg_catalog.aclexplode(y.typacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_language'::pg_catalog.regclass, l.oid, NULL, a.*
      FROM pg_catalog.pg_language l, pg_catalog.aclexplode(l.lanacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass, w.oid, NULL, a.*
      FROM pg_catalog.pg_foreign_data_wrapper w, pg_catalog.aclexplode(w.fdwacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_foreign_server'::pg_catalog.regclass, v.oid, NULL, a.*
      FROM pg_catalog.pg_foreign_server v, pg_catalog.aclexplode(v.srvacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_largeobject'::pg_catalog.regclass, m.oid, NULL, a.*
      FROM pg_catalog.pg_largeobject_metadata m, pg_catalog.aclexplode(m.lomacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_database'::pg_catalog.regclass, d.oid, NULL, a.*
      FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
)
SELECT DISTINCT (pg_catalog.pg_identify_object(x.cls, x.obj, 0)).type AS kind,
       (pg_catalog.pg_identify_object(x.cls, x.obj, 0)).identity AS identity,
       pg_catalog.quote_ident(x.col) AS column_name,
       x.privilege_type, x.is_grantable
  FROM acls x
 WHERE x.grantee OPERATOR(pg_catalog.<>) 0
   AND x.grantee OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(branch_role)s)
   AND pg_catalog.pg_has_role((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(parent)s), x.grantee, 'USAGE')
   -- Not the server's functions that initdb or an extension's script kept
   -- from PUBLIC (pg_read_file, pg_read_binary_file, lo_export, pg_ls_dir,
   -- ...): they act on the cluster, not on the branch, the way membership
   -- in pg_read_server_files would.
   AND NOT (x.cls OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
            AND EXISTS (SELECT 1 FROM pg_catalog.pg_init_privs i
                         WHERE i.classoid OPERATOR(pg_catalog.=) x.cls AND i.objoid OPERATOR(pg_catalog.=) x.obj
                           AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(i.initprivs) a
                                            WHERE a.grantee OPERATOR(pg_catalog.=) 0
                                              AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE')))
 ORDER BY 1, 2, 3, 4
"""

#: GRANT ... ON <keyword> for each pg_identify_object type.
GRANT_KEYWORDS = {
    "table": "TABLE", "view": "TABLE", "materialized view": "TABLE", "foreign table": "TABLE",
    "partitioned table": "TABLE", "sequence": "SEQUENCE", "function": "ROUTINE",
    "procedure": "ROUTINE", "aggregate": "ROUTINE", "schema": "SCHEMA", "type": "TYPE",
    "domain": "DOMAIN", "language": "LANGUAGE", "foreign-data wrapper": "FOREIGN DATA WRAPPER",
    "server": "FOREIGN SERVER", "large object": "LARGE OBJECT", "database": "DATABASE",
}

#: Row-level security policies that apply to a parent role inside the child.
CHILD_POLICIES_QUERY = """
SELECT pg_catalog.quote_ident(p.polname) AS policy, p.polrelid::pg_catalog.regclass::text AS tbl,
       ARRAY(SELECT CASE WHEN r OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                         ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) END
               FROM pg_catalog.unnest(p.polroles) r) AS roles
  FROM pg_catalog.pg_policy p
 WHERE EXISTS (SELECT 1 FROM pg_catalog.unnest(p.polroles) r
                WHERE r OPERATOR(pg_catalog.<>) 0
                  AND pg_catalog.pg_has_role((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(parent)s), r, 'USAGE'))
   AND NOT (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(branch_role)s) OPERATOR(pg_catalog.=) ANY (p.polroles)
"""


#: Every ACL entry of the child, by OID, for carry_privileges' check of what
#: it did: (catalog, object, column number, privilege, grantable, granted to
#: the branch role?, held through a role the parent role has the privileges
#: of?, owned by the branch role?, description).  Names play no part: between the queries
#: that list the grants and the GRANT statements, which name the objects,
#: a role connected to the child may rename its schemas so that a name
#: reaches another object.
CARRIED_ACL_QUERY = """
WITH acls AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS cls, c.oid AS obj, 0 AS col,
           c.relowner AS owner, a.*
      FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, t.attrelid, t.attnum, c.relowner, a.*
      FROM pg_catalog.pg_attribute t
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.attrelid,
           pg_catalog.aclexplode(t.attacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0, p.proowner, a.*
      FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass, n.oid, 0, n.nspowner, a.*
      FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, y.oid, 0, y.typowner, a.*
      FROM pg_catalog.pg_type y, pg_catalog.aclexplode(y.typacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_language'::pg_catalog.regclass, l.oid, 0, l.lanowner, a.*
      FROM pg_catalog.pg_language l, pg_catalog.aclexplode(l.lanacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass, w.oid, 0, w.fdwowner, a.*
      FROM pg_catalog.pg_foreign_data_wrapper w, pg_catalog.aclexplode(w.fdwacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_foreign_server'::pg_catalog.regclass, v.oid, 0, v.srvowner, a.*
      FROM pg_catalog.pg_foreign_server v, pg_catalog.aclexplode(v.srvacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_largeobject'::pg_catalog.regclass, m.oid, 0, m.lomowner, a.*
      FROM pg_catalog.pg_largeobject_metadata m, pg_catalog.aclexplode(m.lomacl) a
    UNION ALL
    SELECT 'pg_catalog.pg_database'::pg_catalog.regclass, d.oid, 0, d.datdba, a.*
      FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
), who AS (
    SELECT (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(branch_role)s) AS br,
           (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(parent)s) AS pr
)
SELECT x.cls::pg_catalog.oid, x.obj, x.col, x.privilege_type, x.is_grantable,
       x.grantee OPERATOR(pg_catalog.=) w.br,
       x.grantee OPERATOR(pg_catalog.<>) 0 AND x.grantee OPERATOR(pg_catalog.<>) w.br
           AND pg_catalog.pg_has_role(w.pr, x.grantee, 'USAGE'),
       x.owner OPERATOR(pg_catalog.=) w.br,
       pg_catalog.pg_describe_object(x.cls, x.obj, x.col)
  FROM acls x, who w
"""

#: The roles of every policy of the child, and which ones carry_privileges
#: extends to the branch role (same rule as CHILD_POLICIES_QUERY, by OID).
CARRIED_POLICIES_QUERY = """
SELECT p.oid, p.polroles::pg_catalog.oid[],
       EXISTS (SELECT 1 FROM pg_catalog.unnest(p.polroles) r
                WHERE r OPERATOR(pg_catalog.<>) 0
                  AND pg_catalog.pg_has_role((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(parent)s), r, 'USAGE')),
       pg_catalog.pg_describe_object('pg_catalog.pg_policy'::pg_catalog.regclass, p.oid, 0)
  FROM pg_catalog.pg_policy p
"""

#: Shared objects the branch role owns after REASSIGN OWNED: only the
#: child's own database may be among them.
BRANCH_ROLE_SHARED_QUERY = """
SELECT 'database ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(d.datname) FROM pg_catalog.pg_database d
 WHERE d.datdba OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(branch_role)s)
   AND d.datname OPERATOR(pg_catalog.<>) pg_catalog.current_database()
UNION ALL
SELECT 'tablespace ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t.spcname) FROM pg_catalog.pg_tablespace t
 WHERE t.spcowner OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(branch_role)s)
"""


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


_DATABASE_SIZE = ("SELECT pg_catalog.pg_database_size(d.oid) FROM pg_catalog.pg_database d"
                  " WHERE d.datname OPERATOR(pg_catalog.=) %s")
#: The size of the databases being created right now: directories under base/
#: without a committed pg_database row (pg_ls_dir: superusers only).
_CREATING_SIZE = ("SELECT coalesce(sum(pg_catalog.pg_database_size(d::pg_catalog.oid)), 0)"
                  "  FROM pg_catalog.pg_ls_dir('base') d"
                  " WHERE d OPERATOR(pg_catalog.~) '^[0-9]+$'"
                  "   AND d::pg_catalog.oid OPERATOR(pg_catalog.<>) ALL"
                  "       (SELECT oid FROM pg_catalog.pg_database)")


class _SizeQuery:
    """A size query asked on a connection of its own (from a progress thread)."""

    def __init__(self, dsn: str, query: str, params: Sequence[Any] = ()) -> None:
        self.dsn, self.query, self.params = dsn, query, list(params)
        self.conn: psycopg.Connection[Any] | None = None

    def __call__(self) -> int:
        if self.conn is None:
            self.conn = psycopg.connect(self.dsn, autocommit=True, options=SAFE_OPTIONS)
            self.conn.execute(SAFE_SEARCH_PATH)
        row = self.conn.execute(self.query, self.params).fetchone()
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _tree_size(root: Path) -> int:
    """Bytes of the files under root (an online copy's dump directory)."""
    total = 0
    for path in root.rglob("*"):
        try:
            total += path.stat().st_size
        except OSError:
            pass
    return total


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


#: Test hook for the crash tests: with PGWARDEN_TEST_PAUSE_AT=<step> an
#: operation stops at that step (after writing its pid to
#: PGWARDEN_TEST_PAUSE_FILE) until it is killed, so a test can kill the
#: client, or crash the server, exactly there.
PAUSE_AT = "PGWARDEN_TEST_PAUSE_AT"
PAUSE_FILE = "PGWARDEN_TEST_PAUSE_FILE"


def _pause_point(step: str) -> None:
    if os.environ.get(PAUSE_AT) != step:
        return
    marker = os.environ.get(PAUSE_FILE)
    if marker:
        Path(marker).write_text(str(os.getpid()))
    while True:
        time.sleep(3600)


def _pg_bindir() -> Path:
    exe = os.environ.get("PG_CONFIG", "pg_config")
    out = subprocess.run([exe, "--bindir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def _dsn_of(params: dict[str, Any]) -> str:
    return psycopg.conninfo.make_conninfo(
        "", **{k: str(v) for k, v in params.items() if v is not None})


class Project:
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
            self._bindir = _pg_bindir()
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
        return [self._branch(r) for r in rows]

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
        return self._branch(row)

    @staticmethod
    def _branch(r: dict[str, Any]) -> Branch:
        return Branch(name=r["name"], database=r["database"], parent=r["parent"],
                      protected=r["protected"], created_at=r["created_at"],
                      parent_lsn=None if r["parent_lsn"] is None else str(r["parent_lsn"]),
                      strategy=r["strategy"], endpoints=tuple(r["endpoints"] or ()),
                      state=r["state"])

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
            self._wait_published(conn)
            return self._get_branch(conn, name)

    def unprotect(self, name: str) -> Branch:
        """Lift the protection of a branch.

        >>> project.unprotect("shop").protected
        False
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.unprotect_branch(%s)", [name])
            self._wait_published(conn)
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
                _pause_point("create:copy")
                chosen, lsn = self._copy(conn, parent, src, copy, strategy, jobs, progress,
                                         on_snapshot)
                _pause_point("create:copied")
                # The copy takes its name and becomes the branch in one transaction.
                with conn.transaction():
                    conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(copy), sql.Identifier(db)))
                    rows = conn.execute(
                        "SELECT * FROM pgwarden._finish_create(%s, %s, %s, %s, %s)",
                        [name, parent, db, lsn, chosen]).fetchall()
                    conn.execute("SELECT pgwarden._create_swapped(%s)", [name])
            except BaseException:
                self._drop_database(conn, copy)
                with suppress(psycopg.Error):
                    conn.execute("SELECT pgwarden._abort_operation(%s)", [name])
                raise
            _pause_point("create:swapped")
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
            self._wait_published(conn)
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
                    _pause_point("reset:copy")
                    chosen, lsn = self._copy(conn, parent, src, copy, strategy, jobs, progress)
                _pause_point("reset:copied")
                self._swap_reset(conn, name, database, copy, aside, lsn, chosen)
            except BaseException:
                self._drop_database(conn, copy)
                with suppress(psycopg.Error):
                    conn.execute("SELECT pgwarden._abort_operation(%s)", [name])
                raise
            _pause_point("reset:swapped")
            self._finish_swapped_reset(conn, name, aside)
            self._wait_published(conn)
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
        _pause_point("reset:dropped")
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
        _pause_point("delete:begun")
        try:
            if row["database"] is not None:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                             .format(sql.Identifier(row["database"])))
        except BaseException:
            with suppress(psycopg.Error):
                conn.execute("SELECT pgwarden._abort_operation(%s)", [name])
            raise
        _pause_point("delete:dropped")
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
            names = [r["name"] for r in conn.execute(
                "SELECT name FROM pgwarden.branch UNION SELECT branch FROM pgwarden.branch_operation"
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

    @staticmethod
    def _carry_one(child: psycopg.Connection[Any], database: str, parent: str,
                   role: str) -> int:
        ident = sql.Identifier
        args = {"parent": parent, "branch_role": role}
        stmts: list[sql.Composed] = []
        acl_before = child.execute(CARRIED_ACL_QUERY, args).fetchall()
        policies_before = child.execute(CARRIED_POLICIES_QUERY, args).fetchall()
        # Ownership.  REASSIGN OWNED also moves the parent role's databases
        # and tablespaces (shared objects) everywhere: give those back, in
        # the same transaction, except the child's own database.
        shared = child.execute(
            "SELECT 'DATABASE', datname FROM pg_catalog.pg_database"
            " WHERE datdba OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(parent)s)"
            "   AND datname OPERATOR(pg_catalog.<>) pg_catalog.current_database()"
            " UNION ALL SELECT 'TABLESPACE', spcname FROM pg_catalog.pg_tablespace"
            " WHERE spcowner OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %(parent)s)",
            args).fetchall()
        stmts.append(sql.SQL("REASSIGN OWNED BY {} TO {}").format(ident(parent), ident(role)))
        for kind, obj in shared:
            stmts.append(sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(kind), ident(obj), ident(parent)))
        for kind, identity, column, privilege, grantable in child.execute(
                CHILD_GRANTS_QUERY, args).fetchall():
            keyword = GRANT_KEYWORDS.get(kind)
            if keyword is None:
                continue
            what = sql.SQL(privilege) if column is None else sql.SQL("{} ({})").format(
                sql.SQL(privilege), sql.SQL(column))
            target = (ident(database) if kind == "database" else sql.SQL(identity))
            stmts.append(sql.SQL("GRANT {} ON {} {} TO {}{}").format(
                what, sql.SQL(keyword), target, ident(role),
                sql.SQL(" WITH GRANT OPTION" if grantable else "")))
        for policy, table, roles in child.execute(CHILD_POLICIES_QUERY, args).fetchall():
            stmts.append(sql.SQL("ALTER POLICY {} ON {} TO {}").format(
                sql.SQL(policy), sql.SQL(table),
                sql.SQL(", ").join([sql.SQL(r) for r in roles] + [ident(role)])))
        for stmt in stmts:
            child.execute(stmt)
        Project._check_carried(child, args, acl_before, policies_before)
        return len(stmts)

    @staticmethod
    def _check_carried(child: psycopg.Connection[Any], args: dict[str, str],
                       acl_before: list[Any], policies_before: list[Any]) -> None:
        """Judge by OID what the statements of _carry_one did, in their
        transaction: every privilege the branch role gained must be one the
        parent role held (directly or through its groups) before they ran,
        every policy changed must be one that applied to the parent role
        with the branch role added and nothing else, and the branch role
        owns no shared object but the child's database.  Else CarryError,
        and the caller's transaction keeps nothing."""
        had = {tuple(r[:5]) for r in acl_before if r[5]}
        allowed = {tuple(r[:5]) for r in acl_before if r[6]}
        allowed |= {(*r[:4], False) for r in acl_before if r[6] and r[4]}
        found = []
        for r in child.execute(CARRIED_ACL_QUERY, args).fetchall():
            key = tuple(r[:5])
            if r[5] and not r[7] and key not in had and key not in allowed:
                found.append(f"{r[3]} on {r[8]}")
        branch_role = child.execute(
            "SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %s",
            [args["branch_role"]]).fetchone()
        before = {r[0]: (set(r[1]), r[2]) for r in policies_before}
        for oid, roles, _, what in child.execute(CARRIED_POLICIES_QUERY, args).fetchall():
            old_roles, applies = before.get(oid, (set(), False))
            if oid in before and set(roles) == old_roles:
                continue
            if not (applies and branch_role is not None
                    and set(roles) == old_roles | {branch_role[0]}):
                found.append(f"the roles of {what}")
        found += [f"ownership of {r[0]}"
                  for r in child.execute(BRANCH_ROLE_SHARED_QUERY, args).fetchall()]
        if found:
            raise CarryError(
                f'carrying the privileges of role "{args["parent"]}" to branch role '
                f'"{args["branch_role"]}" would have given it more than its parent role '
                f"holds in the branch ({'; '.join(found[:5])}): objects were renamed while "
                "they were carried; nothing was carried, run it again (pgwarden branches "
                "carry-privileges) when nobody changes the branch")

    # -- copying -----------------------------------------------------------------
    def _copy(self, conn: psycopg.Connection[dict[str, Any]], parent: str, src: dict[str, Any],
              db: str, strategy: str, jobs: int, progress: Progress | None,
              on_snapshot: Callable[[str], None] | None = None) -> tuple[str, str]:
        self._check_copy_rights(conn, parent, src)
        chosen = strategy
        if strategy == "auto":
            chosen = "template" if src["other_connections"] == 0 else "online"
        if chosen == "template":
            try:
                with Sampler(progress, "copy", self._database_size(conn, src["database"]),
                             _SizeQuery(self.dsn, _CREATING_SIZE)):
                    return "template", self._template_copy(conn, parent, src, db)
            except psycopg.errors.ObjectInUse:
                if strategy != "auto":
                    raise
                chosen = "online"
        return "online", self._online_copy(conn, src, db, jobs, progress, on_snapshot)

    def _check_copy_rights(self, conn: psycopg.Connection[dict[str, Any]], parent: str,
                           src: dict[str, Any]) -> None:
        """A copy is a new database owned by the parent's owner, which
        CREATE DATABASE ... OWNER allows a role with CREATEDB that is a member
        of that owner (superusers are both): say so before anything is made."""
        row = self._fetch_one(
            conn,
            "SELECT r.rolname, r.rolsuper, r.rolcreatedb,"
            "       pg_catalog.pg_has_role(r.oid, o.oid, 'MEMBER') AS member"
            "  FROM pg_catalog.pg_roles r, pg_catalog.pg_roles o"
            " WHERE r.rolname OPERATOR(pg_catalog.=) current_user"
            "   AND o.rolname OPERATOR(pg_catalog.=) %s", [src["owner"]])
        if row["rolsuper"] or (row["rolcreatedb"] and row["member"]):
            return
        me, owner = row["rolname"], src["owner"]
        missing = [what for what, ok in (("CREATEDB", row["rolcreatedb"]),
                                         (f'membership in role "{owner}"', row["member"])) if not ok]
        grants = ([f"ALTER ROLE {me} CREATEDB;"] if not row["rolcreatedb"] else []) + (
            [f"GRANT {owner} TO {me};"] if not row["member"] else [])
        raise errors.PermissionDenied(
            f'copying branch "{parent}" makes a database owned by its owner "{owner}": '
            f'role "{me}" needs {" and ".join(missing)}',
            hint="Connect as a superuser, or have one run: " + " ".join(grants))

    def _template_copy(self, conn: psycopg.Connection[dict[str, Any]], parent: str,
                       src: dict[str, Any], db: str) -> str:
        conn.execute("SELECT pgwarden._arm_template_copy(%s)", [parent])
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
            sql.Identifier(db), sql.Identifier(src["database"]), sql.Identifier(src["owner"])))
        return str(self._fetch_one(conn, "SELECT pg_current_wal_lsn()::text AS lsn")["lsn"])

    def _create_empty(self, conn: psycopg.Connection[dict[str, Any]], src: dict[str, Any],
                      db: str) -> None:
        """The database an online copy restores into, closed to everyone but
        the helper until _hand_over(): were it the parent owner's from the
        start, that owner could connect while pg_restore runs and add a
        trigger to its own table just before the helper's COPY fills it.
        Created with connections off, so nobody slips in before the REVOKE."""
        ident = sql.Identifier(db)
        parts: list[sql.Composable] = [
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {}").format(
                ident, sql.Literal(src["encoding"]))]
        parts.append(sql.SQL("LC_COLLATE {} LC_CTYPE {}").format(
            sql.Literal(src["lc_collate"]), sql.Literal(src["lc_ctype"])))
        # The parent's locale provider and its locale (pg_database.daticulocale
        # until PostgreSQL 16, datlocale from 17, which adds the builtin provider):
        # _copy_source returns it as icu_locale whatever the major.
        provider = src["locale_provider"]
        if provider == "i":
            parts.append(sql.SQL("LOCALE_PROVIDER icu ICU_LOCALE {}").format(
                sql.Literal(src["icu_locale"])))
        elif provider == "b":
            parts.append(sql.SQL("LOCALE_PROVIDER builtin BUILTIN_LOCALE {}").format(
                sql.Literal(src["icu_locale"])))
        elif provider != "c":
            raise ValueError(f"the parent database has an unknown locale provider {provider!r}")
        parts.append(sql.SQL("ALLOW_CONNECTIONS false"))
        conn.execute(sql.SQL(" ").join(parts))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))
        conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(ident))

    @staticmethod
    def _hand_over(conn: psycopg.Connection[dict[str, Any]], src: dict[str, Any],
                   db: str) -> None:
        """After the restore: the parent's owner owns the copy, and PUBLIC has
        the default rights again (the parent's ACL is copied over them)."""
        ident = sql.Identifier(db)
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            ident, sql.Identifier(src["owner"])))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO PUBLIC").format(ident))

    def _online_copy(self, conn: psycopg.Connection[dict[str, Any]], src: dict[str, Any],
                     db: str, jobs: int, progress: Progress | None,
                     on_snapshot: Callable[[str], None] | None = None) -> str:
        """pg_dump --snapshot -Fd -j N from an exported snapshot held open,
        then pg_restore -j N into a new database.  Nobody is disconnected."""
        parent_ci, env = self._conninfo(src["database"])
        child_ci, _ = self._conninfo(db)
        workdir = Path(tempfile.mkdtemp(prefix="pgwarden-branch-"))
        if os.geteuid() == 0:
            os.chmod(workdir, 0o700)
        dumpdir = workdir / "dump"
        created = False
        try:
            with psycopg.connect(parent_ci, password=env.get("PGPASSWORD")) as snap:
                snap.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                snap.read_only = True
                snap.execute(SAFE_SEARCH_PATH)
                self._refuse_foreign_code(snap, src["database"])
                row = snap.execute(
                    "SELECT pg_export_snapshot(), pg_current_wal_lsn()::text,"
                    " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    "   WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                    "     AND n.nspname NOT LIKE 'pg\\_toast%%')").fetchone()
                assert row is not None
                snapshot, lsn, ntables = row[0], row[1], int(row[2])
                if on_snapshot is not None:
                    on_snapshot(snapshot)
                data = snap.execute(
                    "SELECT coalesce(sum(pg_catalog.pg_table_size(c.oid)), 0)::bigint"
                    "  FROM pg_catalog.pg_class c"
                    "  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
                    " WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,m}')"
                    "   AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema}')"
                    ).fetchone()
                with Sampler(progress, "dump", int(data[0]) if data else 0,
                             lambda: _tree_size(dumpdir)):
                    self._run_tool(
                        [str(self.bindir / "pg_dump"), "--snapshot", snapshot, "-Fd", "-j",
                         str(jobs), "-f", str(dumpdir), "--compress", "0", "--no-sync", "-v",
                         "--dbname", parent_ci],
                        env, "dump", ntables, ("dumping contents of table",), None)
                snap.rollback()
            listing = subprocess.run([str(self.bindir / "pg_restore"), "-l", str(dumpdir)],
                                     check=True, capture_output=True, text=True).stdout
            nitems = sum(1 for line in listing.splitlines() if line and not line.startswith(";"))
            self._create_empty(conn, src, db)
            created = True
            with Sampler(progress, "restore", self._database_size(conn, src["database"]),
                         _SizeQuery(self.dsn, _DATABASE_SIZE, [db])):
                self._run_tool(
                    [str(self.bindir / "pg_restore"), "-j", str(jobs), "--exit-on-error", "-v",
                     "--dbname", child_ci, str(dumpdir)],
                    env, "restore", nitems,
                    ("finished item", "creating ", "processing data for table"), None)
            self._hand_over(conn, src, db)
            return str(lsn)
        except BaseException:
            if created:
                self._drop_database(conn, db)
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    @staticmethod
    def _database_size(conn: psycopg.Connection[Any], database: str) -> int:
        """pg_database_size(database), 0 when it cannot be read."""
        try:
            with conn.cursor(row_factory=tuple_row) as cur:
                row = cur.execute(_DATABASE_SIZE, [database]).fetchone()
        except psycopg.Error:
            return 0
        return int(row[0] or 0) if row else 0

    @staticmethod
    def _refuse_foreign_code(snap: psycopg.Connection[Any], database: str) -> None:
        """Refuse an online copy whose restore would run another role's code.

        pg_restore evaluates CHECK constraints and generated columns for every
        row it loads, as the role running it: a function the parent's owner
        wrote would run with the helper's (often a superuser's) privileges.
        A template copy runs nothing and stays available.
        """
        rows = snap.execute(FOREIGN_CODE_QUERY).fetchall()
        if rows:
            found = "; ".join(f"{r[0]} calls {r[1]} (owner {r[2]})" for r in rows[:5])
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            raise UnsafeCopyError(
                f'an online copy of database "{database}" would run functions of other roles '
                f"with this role's privileges while restoring rows: {found}{more}; copy it "
                "with strategy template while nobody is connected to it, or connect as the "
                "owner of those functions")

    @staticmethod
    def _run_tool(argv: list[str], env: dict[str, str], phase: str, total: int,
                  markers: tuple[str, ...], progress: Progress | None) -> None:
        """Run pg_dump/pg_restore -v, counting its verbose lines as progress."""
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        tail: list[str] = []
        done = 0
        stream: IO[str] | None = proc.stderr
        assert stream is not None
        if progress:
            progress(phase, 0, total)
        for line in stream:
            if any(m in line for m in markers):
                done += 1
                if progress:
                    progress(phase, min(done, total) if total else done, total)
            elif "error" in line.lower() or "warning" in line.lower():
                tail.append(line.rstrip())
        rc = proc.wait()
        if progress:
            progress(phase, total if total else done, total)
        if rc != 0:
            detail = "\n".join(tail[-10:])
            raise errors.CopyError(f"{Path(argv[0]).name} failed (exit {rc})", detail=detail or None)

    @staticmethod
    def _wait_published(conn: psycopg.Connection[dict[str, Any]], timeout: float = 2.0) -> bool:
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

    @staticmethod
    def _drop_database(conn: psycopg.Connection[dict[str, Any]], db: str) -> None:
        """Drop a copy being made, if it was made (no notice when it was not)."""
        try:
            if conn.execute("SELECT 1 FROM pg_catalog.pg_database"
                            " WHERE datname OPERATOR(pg_catalog.=) %s", [db]).fetchone():
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(db)))
        except psycopg.Error:
            pass

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

    # -- endpoints ---------------------------------------------------------------
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
            self._wait_published(conn)
        return self.endpoint(name)

    def suspend_endpoint(self, name: str) -> Endpoint:
        """Refuse new connections through an endpoint (within a second).

        >>> project.suspend_endpoint("dev-ro").suspended
        True
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.suspend_endpoint(%s)", [name])
            self._wait_published(conn)
        return self.endpoint(name)

    def resume_endpoint(self, name: str) -> Endpoint:
        """Accept connections through an endpoint again.

        >>> project.resume_endpoint("dev-ro").suspended
        False
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.resume_endpoint(%s)", [name])
            self._wait_published(conn)
        return self.endpoint(name)

    def set_endpoint_limit(self, name: str, max_connections: int | None) -> Endpoint:
        """Change an endpoint's connection limit (``None``: no limit).

        >>> project.set_endpoint_limit("dev-ro", None).max_connections is None
        True
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.set_endpoint_limit(%s, %s)", [name, max_connections])
            self._wait_published(conn)
        return self.endpoint(name)

    def drop_endpoint(self, name: str) -> None:
        """Drop an endpoint (refused on a protected branch, and for a default endpoint).

        >>> project.drop_endpoint("dev-ro")
        """
        with self.connect() as conn:
            conn.execute("SELECT pgwarden.drop_endpoint(%s)", [name])
            self._wait_published(conn)

    # -- branch roles ------------------------------------------------------------
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



# Errors met outside ``connect()`` (the child database of carry_privileges, an
# online copy's own connections) leave every public operation as pgwarden's
# classes too.
for _name, _member in list(vars(Project).items()):
    if not _name.startswith("_") and _name not in ("connect", "close") and callable(_member):
        setattr(Project, _name, errors.translated(_member))
