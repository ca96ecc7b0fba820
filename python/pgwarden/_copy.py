"""How a branch is copied, and how a branch role gets its parent role's rights.

The machinery behind :class:`pgwarden.branches.Project`: a template copy
(``CREATE DATABASE ... TEMPLATE``) or an online one (``pg_dump --snapshot``
and ``pg_restore`` while the parent is in use, refused when restoring rows
would run another role's code), the size probes that drive progress, the
safe startup options of every connection the helper makes, carrying
privileges into a child (judged by OID afterwards), and the pause points
the crash tests stop an operation at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from . import errors
from ._progress import Progress, Sampler
from .errors import CarryError, UnsafeCopyError

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


#: Test hook for the crash tests: with PGWARDEN_TEST_PAUSE_AT=<step> an
#: operation stops at that step (after writing its pid to
#: PGWARDEN_TEST_PAUSE_FILE) until it is killed, so a test can kill the
#: client, or crash the server, exactly there.
PAUSE_AT = "PGWARDEN_TEST_PAUSE_AT"
PAUSE_FILE = "PGWARDEN_TEST_PAUSE_FILE"


def pause_point(step: str) -> None:
    if os.environ.get(PAUSE_AT) != step:
        return
    marker = os.environ.get(PAUSE_FILE)
    if marker:
        Path(marker).write_text(str(os.getpid()))
    while True:
        time.sleep(3600)


def pg_bindir() -> Path:
    exe = os.environ.get("PG_CONFIG", "pg_config")
    out = subprocess.run([exe, "--bindir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def carry_one(child: psycopg.Connection[Any], database: str, parent: str,
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
    check_carried(child, args, acl_before, policies_before)
    return len(stmts)


def check_carried(child: psycopg.Connection[Any], args: dict[str, str],
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


def hand_over(conn: psycopg.Connection[dict[str, Any]], src: dict[str, Any],
              db: str) -> None:
    """After the restore: the parent's owner owns the copy, and PUBLIC has
    the default rights again (the parent's ACL is copied over them)."""
    ident = sql.Identifier(db)
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
        ident, sql.Identifier(src["owner"])))
    conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO PUBLIC").format(ident))


def database_size(conn: psycopg.Connection[Any], database: str) -> int:
    """pg_database_size(database), 0 when it cannot be read."""
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            row = cur.execute(_DATABASE_SIZE, [database]).fetchone()
    except psycopg.Error:
        return 0
    return int(row[0] or 0) if row else 0


def refuse_foreign_code(snap: psycopg.Connection[Any], database: str) -> None:
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


def run_tool(argv: list[str], env: dict[str, str], phase: str, total: int,
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


def drop_database(conn: psycopg.Connection[dict[str, Any]], db: str) -> None:
    """Drop a copy being made, if it was made (no notice when it was not)."""
    try:
        if conn.execute("SELECT 1 FROM pg_catalog.pg_database"
                        " WHERE datname OPERATOR(pg_catalog.=) %s", [db]).fetchone():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(db)))
    except psycopg.Error:
        pass


def check_copy_rights(conn: psycopg.Connection[dict[str, Any]], parent: str,
                      src: dict[str, Any]) -> None:
    """A copy is a new database owned by the parent's owner, which
    CREATE DATABASE ... OWNER allows a role with CREATEDB that is a member
    of that owner (superusers are both): say so before anything is made."""
    row = conn.execute(
        "SELECT r.rolname, r.rolsuper, r.rolcreatedb,"
        "       pg_catalog.pg_has_role(r.oid, o.oid, 'MEMBER') AS member"
        "  FROM pg_catalog.pg_roles r, pg_catalog.pg_roles o"
        " WHERE r.rolname OPERATOR(pg_catalog.=) current_user"
        "   AND o.rolname OPERATOR(pg_catalog.=) %s", [src["owner"]]).fetchone()
    assert row is not None
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


def create_empty(conn: psycopg.Connection[dict[str, Any]], src: dict[str, Any],
                 db: str) -> None:
    """The database an online copy restores into, closed to everyone but
    the helper until hand_over(): were it the parent owner's from the
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


def template_copy(conn: psycopg.Connection[dict[str, Any]], parent: str,
                  src: dict[str, Any], db: str) -> str:
    conn.execute("SELECT pgwarden._arm_template_copy(%s)", [parent])
    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
        sql.Identifier(db), sql.Identifier(src["database"]), sql.Identifier(src["owner"])))
    row = conn.execute("SELECT pg_current_wal_lsn()::text AS lsn").fetchone()
    assert row is not None
    return str(row["lsn"])


class Copier:
    """Copies one branch's database into a new one, as the project's role.

    ``conninfo(dbname)`` gives a connection string to another database of
    the cluster and the environment carrying its password; ``bindir()`` the
    directory of pg_dump and pg_restore (only an online copy asks);
    ``template`` makes a template copy (template_copy unless the caller
    substitutes its own step, as the red-team tests do)."""

    def __init__(self, dsn: str, conninfo: Callable[[str], tuple[str, dict[str, str]]],
                 bindir: Callable[[], Path],
                 template: Callable[[psycopg.Connection[dict[str, Any]], str, dict[str, Any],
                                     str], str] = template_copy) -> None:
        self.dsn, self._conninfo, self.bindir, self.template = dsn, conninfo, bindir, template

    def copy(self, conn: psycopg.Connection[dict[str, Any]], parent: str, src: dict[str, Any],
             db: str, strategy: str, jobs: int, progress: Progress | None,
             on_snapshot: Callable[[str], None] | None = None) -> tuple[str, str]:
        check_copy_rights(conn, parent, src)
        chosen = strategy
        if strategy == "auto":
            chosen = "template" if src["other_connections"] == 0 else "online"
        if chosen == "template":
            try:
                with Sampler(progress, "copy", database_size(conn, src["database"]),
                             _SizeQuery(self.dsn, _CREATING_SIZE)):
                    return "template", self.template(conn, parent, src, db)
            except psycopg.errors.ObjectInUse:
                if strategy != "auto":
                    raise
                chosen = "online"
        return "online", self.online_copy(conn, src, db, jobs, progress, on_snapshot)

    def online_copy(self, conn: psycopg.Connection[dict[str, Any]], src: dict[str, Any],
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
                refuse_foreign_code(snap, src["database"])
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
                    run_tool(
                        [str(self.bindir() / "pg_dump"), "--snapshot", snapshot, "-Fd", "-j",
                         str(jobs), "-f", str(dumpdir), "--compress", "0", "--no-sync", "-v",
                         "--dbname", parent_ci],
                        env, "dump", ntables, ("dumping contents of table",), None)
                snap.rollback()
            listing = subprocess.run([str(self.bindir() / "pg_restore"), "-l", str(dumpdir)],
                                     check=True, capture_output=True, text=True).stdout
            nitems = sum(1 for line in listing.splitlines() if line and not line.startswith(";"))
            create_empty(conn, src, db)
            created = True
            with Sampler(progress, "restore", database_size(conn, src["database"]),
                         _SizeQuery(self.dsn, _DATABASE_SIZE, [db])):
                run_tool(
                    [str(self.bindir() / "pg_restore"), "-j", str(jobs), "--exit-on-error", "-v",
                     "--dbname", child_ci, str(dumpdir)],
                    env, "restore", nitems,
                    ("finished item", "creating ", "processing data for table"), None)
            hand_over(conn, src, db)
            return str(lsn)
        except BaseException:
            if created:
                drop_database(conn, db)
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
