"""Red-team pass over the fixes of issues 15 and 8: each test is the next way
around a fix, run as a real client of a real server, as one of the threat
model's roles.  The attacks that succeeded before their fix say so in their
docstring; the others are regression tests of guarantees that held.

Roles: OWNER owns the parent database SHOP (not a superuser), PLAIN may
connect to it, ADMIN is a pgwarden_admin member with CREATEDB.  The helper
(pgwarden.Project) runs as the suite's superuser unless a test says
otherwise: its routine use must never run anything those roles wrote with
its privileges.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden import allowlist
from pgwarden.branches import CarryError, Project, UnsafeCopyError
from pgwarden.sandbox import Cluster
from support.clusters import ClusterFactory

CONTROL_DB = "regress_control"
SHOP = "regress_rt_shop"
CHILD = "regress_rt_dev"
OWNER = "regress_rt_owner"
PLAIN = "regress_rt_plain"
ADMIN = "regress_rt_admin"
PASSWORD = "pgw_Hy7rT3kWq9ZxN2vB8mLc"


def q(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def is_super(cluster: Cluster, role: str) -> bool:
    with cluster.connect() as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    return bool(row and row[0])


def database_oid(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", [name]).fetchone()
    assert row is not None
    return int(row[0])


def database_exists(cluster: Cluster, name: str) -> bool:
    with cluster.connect() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [name]).fetchone() is not None


@pytest.fixture
def shop(cluster: Cluster) -> Iterator[Cluster]:
    """SHOP owned by OWNER, registered as a branch; everything made by the
    test is removed afterwards (branches, databases, superuser it gained)."""
    with cluster.connect() as conn:
        for role, extra in ((OWNER, ""), (PLAIN, ""), (ADMIN, " CREATEDB")):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}" + extra).format(
                q(role), sql.Literal(PASSWORD)))
        conn.execute(sql.SQL("GRANT pgwarden_admin TO {}").format(q(ADMIN)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(q(SHOP), q(OWNER)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(q(SHOP), q(PLAIN)))
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.register_branch(%s)", [SHOP])
    yield cluster
    with cluster.connect(CONTROL_DB) as conn:
        for role in (OWNER, PLAIN, ADMIN):
            conn.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(q(role)))
        conn.execute("SELECT pgwarden.unprotect_branch(name) FROM pgwarden.branch WHERE protected")
        conn.execute("SELECT pgwarden.sync_branches()")
        for (name,) in conn.execute(
                "SELECT name FROM pgwarden.branch b WHERE b.database_oid <>"
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
                " ORDER BY created_at DESC").fetchall():
            Project(cluster.local_dsn(CONTROL_DB)).delete_branch(name)
        for (db,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'regress\\_rt%%'"
                "   OR datname LIKE 'pgw\\_reset\\_%%'").fetchall():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(q(db)))


def as_owner(cluster: Cluster, *stmts: str, db: str = SHOP) -> None:
    with cluster.connect(db, user=OWNER) as conn:
        for stmt in stmts:
            conn.execute(stmt)


#: OWNER's code: makes OWNER superuser when a superuser runs it.  Volatile,
#: so that it may run ALTER ROLE; an immutable wrapper can call it.
ESCALATE = f"""
CREATE FUNCTION public.regress_escalate() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {OWNER} SUPERUSER';
    END IF;
    RETURN true;
END $f$
"""
IMMUTABLE_WRAPPER = """
CREATE FUNCTION public.regress_key(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
    PERFORM public.regress_escalate();
    RETURN x;
END $f$
"""


def online_copy(cluster: Cluster, **kw: Any) -> Any:
    return Project(cluster.local_dsn(CONTROL_DB)).create_branch(CHILD, SHOP, strategy="online",
                                                                **kw)


# ---------------------------------------------------------------------------
# Online copy: what pg_restore runs with the helper's privileges
# ---------------------------------------------------------------------------

def test_owner_cannot_become_the_helpers_identity_by_a_database_setting(shop: Cluster) -> None:
    """Succeeded before the fix: ``ALTER DATABASE shop SET role = owner``
    made every helper connection to the parent run as OWNER, so the check
    for other roles' code (which compared with current_user) found none of
    OWNER's functions, and pg_restore, connected to the fresh child as the
    superuser, ran them: OWNER became superuser."""
    as_owner(shop, ESCALATE,
             "CREATE TABLE t (x int CHECK (public.regress_escalate()))",
             "INSERT INTO t VALUES (1)",
             f"ALTER DATABASE {SHOP} SET role = {OWNER}")
    with pytest.raises(UnsafeCopyError, match="regress_escalate"):
        online_copy(shop)
    assert not is_super(shop, OWNER)
    assert not database_exists(shop, CHILD)


#: query_to_xml() runs SQL text: the owner's function is called from the
#: text, so no dependency and no expression tree names it.
QUERY_TO_XML = "query_to_xml('SELECT public.regress_escalate()', false, false, '') IS NOT NULL"
#: table_to_xml() reads a view, whose functions run as the reader.
TABLE_TO_XML = "table_to_xml('public.v', false, false, '') IS NOT NULL"

CODE_PATHS: dict[str, list[str]] = {
    "query_to_xml": [f"CREATE TABLE t (x int CHECK ({QUERY_TO_XML}))"],
    "table_to_xml": ["CREATE VIEW v AS SELECT public.regress_escalate() AS e",
                     f"CREATE TABLE t (x int CHECK ({TABLE_TO_XML}))"],
    # A partition key expression: COPY into a partition checks the
    # partition constraint, which evaluates the key.
    "partition key": [IMMUTABLE_WRAPPER,
                      "CREATE TABLE t (x int) PARTITION BY RANGE (public.regress_key(x))",
                      "CREATE TABLE t1 PARTITION OF t FOR VALUES FROM (0) TO (100)"],
    # A sub-partition's key, reached through its parent partition.
    "sub-partition key": [IMMUTABLE_WRAPPER,
                          "CREATE TABLE t (x int) PARTITION BY RANGE (x)",
                          ("CREATE TABLE t1 PARTITION OF t FOR VALUES FROM (0) TO (100)"
                           " PARTITION BY LIST (public.regress_key(x))"),
                          "CREATE TABLE t11 PARTITION OF t1 FOR VALUES IN (1)"],
    # A domain over a domain whose check calls query_to_xml.
    "domain over domain": [f"CREATE DOMAIN d1 AS int CHECK ({QUERY_TO_XML})",
                           "CREATE DOMAIN d2 AS d1", "CREATE TABLE t (x d2)"],
    # An immutable wrapper in a generated column (the lead's test used a
    # function that could not escalate by itself).
    "generated": [IMMUTABLE_WRAPPER,
                  "CREATE TABLE t (x int, y int GENERATED ALWAYS AS (public.regress_key(x)) STORED)"],
}


@pytest.mark.parametrize("path", sorted(CODE_PATHS))
def test_online_copy_refuses_every_row_time_code_path(shop: Cluster, path: str) -> None:
    """Succeeded before the fix (except "generated", refused already): each
    of these ran OWNER's code as the superuser restoring the rows."""
    as_owner(shop, ESCALATE, *CODE_PATHS[path], "INSERT INTO t (x) VALUES (1)")
    with pytest.raises(UnsafeCopyError, match="would run functions of other roles"):
        online_copy(shop)
    assert not is_super(shop, OWNER)
    assert not database_exists(shop, CHILD)
    # A template copy runs none of it.
    Project(shop.local_dsn(CONTROL_DB)).create_branch(CHILD, SHOP, strategy="template")
    assert not is_super(shop, OWNER)


def test_online_copy_refuses_builtins_that_act_with_the_helpers_privileges(
        shop: Cluster) -> None:
    """Succeeded before the fix: pg_terminate_backend() (executable by
    PUBLIC, but a superuser may signal any session) in a CHECK constraint,
    skipped when OWNER inserts the row, terminated a superuser's session when
    the helper restored it.  Only immutable built-ins (and the clock) may run
    while rows are restored."""
    with shop.connect() as victim:
        pid = victim.info.backend_pid
        as_owner(shop, f"CREATE TABLE t (x int CHECK (current_user = '{OWNER}'"
                 " OR pg_catalog.pg_terminate_backend(x) OR true))",
                 f"INSERT INTO t VALUES ({pid})")
        with pytest.raises(UnsafeCopyError, match="pg_terminate_backend"):
            online_copy(shop)
        assert victim.execute("SELECT 1").fetchone() == (1,)
    assert not database_exists(shop, CHILD)


def test_online_copy_still_allows_harmless_builtins(shop: Cluster) -> None:
    """Immutable built-ins, operators and now() in checks, domains, keys and
    generated columns: the copy proceeds and the rows arrive."""
    as_owner(shop,
             "CREATE DOMAIN code AS text CHECK (VALUE ~ '^[a-z]+$' AND length(VALUE) < 10)",
             "CREATE TABLE t (x int CHECK (x > 0 AND abs(x) < 1000), c code,"
             " at timestamptz CHECK (at <= now()),"
             " y int GENERATED ALWAYS AS (x * 2) STORED) PARTITION BY RANGE ((x % 10))",
             "CREATE TABLE t1 PARTITION OF t FOR VALUES FROM (0) TO (10)",
             "INSERT INTO t (x, c, at) VALUES (1, 'abc', now() - interval '1 day')")
    online_copy(shop)
    with shop.connect(CHILD) as conn:
        assert conn.execute("SELECT x, c, y FROM t").fetchall() == [(1, "abc", 2)]


def test_owner_cannot_plant_a_trigger_in_the_child_while_it_is_restored(shop: Cluster) -> None:
    """Succeeded before the fix: the child of an online copy was created
    owned by OWNER, so OWNER connected to it while pg_restore ran, waited for
    its table to be created (owned by OWNER) and added a BEFORE INSERT
    trigger; the superuser's COPY then fired it and OWNER became superuser.
    Now nobody but the helper may connect until the restore is over."""
    as_owner(shop, ESCALATE,
             "CREATE FUNCTION public.regress_trg() RETURNS trigger LANGUAGE plpgsql"
             " AS $f$ BEGIN PERFORM public.regress_escalate(); RETURN NEW; END $f$",
             # restored first, so that the attacker has time to act
             "CREATE TABLE a_big AS SELECT g AS id FROM generate_series(1, 200000) g",
             "CREATE TABLE t (x int)", "INSERT INTO t VALUES (1)")
    done = threading.Event()
    seen = {"planted before the rows": False}

    def attacker() -> None:
        while not done.is_set():
            try:
                with psycopg.connect(shop.local_dsn(CHILD, user=OWNER), autocommit=True) as c:
                    while not done.is_set():
                        if c.execute("SELECT 1 FROM pg_class WHERE relname = 't'"
                                     " AND relowner = %s::regrole", [OWNER]).fetchone():
                            if c.execute("SELECT count(*) FROM public.t").fetchone() == (0,):
                                c.execute("CREATE TRIGGER evil BEFORE INSERT ON public.t"
                                          " FOR EACH ROW EXECUTE FUNCTION public.regress_trg()")
                                seen["planted before the rows"] = True
                            return
                        time.sleep(0.002)
            except psycopg.Error:
                time.sleep(0.002)

    thread = threading.Thread(target=attacker)
    thread.start()
    try:
        online_copy(shop)
    finally:
        done.set()
        thread.join()
    assert not is_super(shop, OWNER)
    assert not seen["planted before the rows"]
    # Afterwards the child is OWNER's, with the parent's (default) rights.
    with shop.connect(CHILD, user=OWNER) as conn:
        assert conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database"
                            " WHERE datname = current_database()").fetchone() == (OWNER,)
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    with shop.connect(CHILD, user=PLAIN) as conn:
        conn.execute("CREATE TEMPORARY TABLE regress_tmp (x int)")


# ---------------------------------------------------------------------------
# carry_privileges: its statements name objects, its checks must not
# ---------------------------------------------------------------------------

#: Sorts after OWNER: carry_privileges handles branch roles in name order.
OTHER = "regress_rt_zother"


class RenamesBeforeReassign:
    """The child connection of carry_privileges, letting OWNER act in the
    window between the queries that list what to grant (names read from
    the catalog) and the statements that grant it by those names: just
    before REASSIGN OWNED, OWNER (connected to the new child, which it owns)
    swaps the names of its two schemas.  An attacker polling in a loop hits
    that window; the test arranges to hit it every time."""

    def __init__(self, conn: psycopg.Connection[Any], swap: Any) -> None:
        self._conn = conn
        self._swap = swap

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, query: Any, params: Any = None) -> Any:
        text = query if isinstance(query, str) else query.as_string(self._conn)
        if text.startswith("REASSIGN OWNED") and self._swap is not None:
            self._swap()
            self._swap = None
        return self._conn.execute(query, params)


class RenamingDuringCarry(Project):
    """The administrator's routine carry_privileges, with OWNER's renames."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.local_dsn(CONTROL_DB))
        self.cluster = cluster
        self.swapped = False

    def swap(self) -> None:
        # Once, before the carry writes anything (its GRANTs for the other
        # branch roles update the schemas' rows too).
        if self.swapped:
            return
        self.swapped = True
        with self.cluster.connect(CHILD, user=OWNER) as conn:
            for stmt in ("ALTER SCHEMA s RENAME TO tmp", "ALTER SCHEMA s2 RENAME TO s",
                         "ALTER SCHEMA tmp RENAME TO s2"):
                conn.execute(stmt)

    def _carry_one(self, child: Any, database: str, parent: str,  # type: ignore[override]
                   role: str) -> int:
        return Project._carry_one(RenamesBeforeReassign(child, self.swap), database, parent,
                                  role)


@pytest.mark.parametrize("kind", ["grant", "policy"])
def test_renames_cannot_misdirect_carry_privileges(shop: Cluster, kind: str) -> None:
    """Succeeded before the fix: OWNER's branch role got SELECT on OTHER's
    table s2.t, which OWNER was never granted (the GRANT for s.t resolved to
    it after the swap); with policies of the same name on both tables,
    ALTER POLICY replaced the roles of the other one.  Now what the
    statements did is judged by OID and the carry is refused."""
    with shop.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(q(OTHER)))
    as_owner(shop, "CREATE SCHEMA s", "CREATE SCHEMA s2",
             f"GRANT USAGE, CREATE ON SCHEMA s, s2 TO {OTHER}")
    with shop.connect(SHOP, user=OTHER) as conn:
        conn.execute("CREATE TABLE s.t (v text)")
        conn.execute("CREATE TABLE s2.t (v text)")
        conn.execute("INSERT INTO s2.t VALUES ('not for the owner')")
        if kind == "grant":
            conn.execute(sql.SQL("GRANT SELECT ON s.t TO {}").format(q(OWNER)))
        else:
            for schema, role in (("s", OWNER), ("s2", PLAIN)):
                conn.execute(f"ALTER TABLE {schema}.t ENABLE ROW LEVEL SECURITY")
                conn.execute(sql.SQL("CREATE POLICY p ON {}.t TO {} USING (true)").format(
                    q(schema), q(role)))
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.protect_branch(%s)", [SHOP])
    with pytest.raises(CarryError, match="more than its parent role holds"):
        RenamingDuringCarry(shop).create_branch(CHILD, SHOP, strategy="template")
    assert not database_exists(shop, CHILD)
    # Undisturbed, the same carry gives the branch role what OWNER has.
    created = Project(shop.local_dsn(CONTROL_DB)).create_branch(CHILD, SHOP, strategy="template")
    cred = next(c for c in created.credentials if c.parent_role == OWNER)
    with psycopg.connect(shop.tcp_dsn(cred.role, cred.password, dbname=CHILD)) as conn:
        if kind == "grant":
            conn.execute("SELECT * FROM s.t")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM s2.t")
    with shop.connect(CHILD) as conn:
        assert conn.execute("SELECT p.polrelid::regclass::text, array_agg(r.rolname ORDER BY 1)"
                            " FROM pg_policy p, unnest(p.polroles) x JOIN pg_roles r ON r.oid = x"
                            " GROUP BY 1 ORDER BY 1").fetchall() == (
            [] if kind == "grant" else [("s.t", sorted([OWNER, cred.role])),
                                        ("s2.t", [PLAIN, f"{PLAIN}@{CHILD}"])])


# ---------------------------------------------------------------------------
# Protections by OID: statements on other objects that reach pgwarden's
# ---------------------------------------------------------------------------

PW001 = "PW001"

#: Run as a superuser in the control database while SHOP is protected; each
#: must be refused (PW001) and leave nothing behind.  Setup statements
#: (allowed) make the tables the attacks start from.
REACHING_STATEMENTS = [
    # pgwarden.endpoint as a partition of a table of ours: triggers, indexes,
    # constraints and column defaults of the parent are then cloned onto it
    # (before the fix a cloned BEFORE trigger turned every new read-only
    # endpoint into a read-write one, and SET DEFAULT made new endpoints
    # suspended).
    ("ALTER TABLE regress_rt_parted ATTACH PARTITION pgwarden.endpoint"
    " FOR VALUES IN ('read_write', 'read_only')"),
    # Children of pgwarden's tables: reads without ONLY include their rows,
    # which no trigger of the parent (policy version, audit) sees.
    "CREATE TABLE regress_rt_child () INHERITS (pgwarden.ip_allow_entries)",
    "CREATE TABLE regress_rt_child2 (x int) INHERITS (pgwarden.branch)",
    "ALTER TABLE regress_rt_like INHERIT pgwarden.ip_allow_entries",
    # Foreign keys put RI triggers on the referenced table.
    "CREATE TABLE regress_rt_fk (b text REFERENCES pgwarden.branch (name))",
    "CREATE TABLE regress_rt_fk (b text, FOREIGN KEY (b) REFERENCES pgwarden.branch (name))",
    "ALTER TABLE regress_rt_like ADD COLUMN b text REFERENCES pgwarden.branch (name)",
    "ALTER TABLE regress_rt_like ADD FOREIGN KEY (entry) REFERENCES pgwarden.endpoint (name)",
    # Grants on the next objects of pgwarden's schema (REVOKE/GRANT on its
    # objects is refused).
    "ALTER DEFAULT PRIVILEGES IN SCHEMA pgwarden GRANT ALL ON TABLES TO PUBLIC",
    ("ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA pgwarden GRANT EXECUTE ON FUNCTIONS"
    f" TO {PLAIN}"),
    # DROP OWNED revokes: pgwarden_admin's rights on pgwarden's functions.
    "DROP OWNED BY pgwarden_admin",
]

REACH_STATE = """
SELECT (SELECT count(*) FROM pg_inherits i JOIN pg_depend d ON d.objid IN (i.inhrelid, i.inhparent)
         WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgwarden')),
       (SELECT count(*) FROM pg_trigger t JOIN pg_depend d ON d.objid = t.tgrelid
         WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgwarden')),
       (SELECT count(*) FROM pg_default_acl),
       has_function_privilege('pgwarden_admin', 'pgwarden.unprotect_branch(text)', 'EXECUTE')
"""


def test_statements_on_other_tables_cannot_reach_pgwardens(shop: Cluster) -> None:
    """Succeeded before the fix (all of them): protect.c judged ALTER TABLE
    by the table it names, not by the partition it attaches or the parent
    it inherits from."""
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.protect_branch(%s)", [SHOP])
        conn.execute("CREATE TABLE regress_rt_parted (LIKE pgwarden.endpoint)"
                     " PARTITION BY LIST (kind)")
        conn.execute("CREATE TABLE regress_rt_like (LIKE pgwarden.ip_allow_entries INCLUDING ALL)")
        try:
            before = conn.execute(REACH_STATE).fetchone()
            assert before is not None and before[3]
            for stmt in REACHING_STATEMENTS:
                with pytest.raises(psycopg.Error) as info:
                    conn.execute(stmt)
                assert info.value.diag.sqlstate == PW001, (stmt, info.value.diag.message_primary)
            assert conn.execute(REACH_STATE).fetchone() == before
            # The same statements on tables that are not pgwarden's still work.
            conn.execute("CREATE TABLE regress_rt_mine (LIKE regress_rt_parted)")
            conn.execute("ALTER TABLE regress_rt_parted ATTACH PARTITION regress_rt_mine"
                         " FOR VALUES IN ('x')")
        finally:
            for table in ("regress_rt_parted", "regress_rt_like", "regress_rt_mine"):
                conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_a_partition_attached_before_protection_gives_no_way_in(shop: Cluster) -> None:
    """Succeeded before the fix: pgwarden.endpoint attached as a partition
    while nothing was protected; once a branch was protected, statements on
    the partitioned parent still cloned a trigger, an index and a check onto
    it and changed its column default.  Now a statement on a table is judged
    with every partition and child it reaches."""
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("CREATE TABLE regress_rt_parted (LIKE pgwarden.endpoint)"
                     " PARTITION BY LIST (kind)")
        conn.execute("ALTER TABLE regress_rt_parted ATTACH PARTITION pgwarden.endpoint DEFAULT")
        conn.execute("CREATE FUNCTION regress_rt_rw() RETURNS trigger LANGUAGE plpgsql"
                     " AS $f$ BEGIN NEW.kind := 'read_write'; RETURN NEW; END $f$")
        try:
            conn.execute("SELECT pgwarden.protect_branch(%s)", [SHOP])
            before = conn.execute(REACH_STATE).fetchone()
            for stmt in (("CREATE TRIGGER regress_rt_rw BEFORE INSERT OR UPDATE ON regress_rt_parted"
                         " FOR EACH ROW EXECUTE FUNCTION regress_rt_rw()"),
                         "CREATE INDEX ON regress_rt_parted (kind)",
                         "ALTER TABLE regress_rt_parted ADD CHECK (kind <> 'read_only')",
                         "ALTER TABLE regress_rt_parted ALTER COLUMN suspended SET DEFAULT true",
                         "ALTER TABLE regress_rt_parted DISABLE TRIGGER ALL"):
                with pytest.raises(psycopg.Error) as info:
                    conn.execute(stmt)
                assert info.value.diag.sqlstate == PW001, (stmt, info.value.diag.message_primary)
            assert conn.execute(REACH_STATE).fetchone() == before
            assert conn.execute("SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef"
                                " WHERE adrelid = 'pgwarden.endpoint'::regclass AND adnum ="
                                " (SELECT attnum FROM pg_attribute WHERE attname = 'suspended'"
                                "   AND attrelid = 'pgwarden.endpoint'::regclass)").fetchone() == (
                "false",)
        finally:
            conn.execute("SELECT pgwarden.unprotect_branch(%s)", [SHOP])
            conn.execute("ALTER TABLE regress_rt_parted DETACH PARTITION pgwarden.endpoint")
            conn.execute("DROP TABLE regress_rt_parted")
            conn.execute("DROP FUNCTION regress_rt_rw()")


def test_the_gate_reads_only_pgwardens_own_rows(shop: Cluster) -> None:
    """Succeeded before the fix, with or without a protected branch: a
    superuser's child table of pgwarden.ip_allow_entries added an address to
    the allowlist that no trigger saw (no audit row, no capacity check),
    because the policy loader read the table without ONLY."""
    with shop.connect(CONTROL_DB) as conn:
        allowlist.reset(conn, force=True)
        try:
            allowlist.add(conn, ["127.0.0.1"])
            conn.execute("CREATE TABLE regress_rt_more () INHERITS (pgwarden.ip_allow_entries)")
            conn.execute("INSERT INTO regress_rt_more (entry, kind, first_address, last_address)"
                         " VALUES ('127.0.0.2', 'address', '127.0.0.2', '127.0.0.2')")
            allowlist.add(conn, ["127.0.0.3"])      # a change the loader publishes
            allowlist.wait_published(conn)
            verdict = conn.execute("SELECT pgwarden.check_connection('127.0.0.2', %s, %s)",
                                   [PLAIN, SHOP]).fetchone()
            assert verdict is not None and verdict[0].startswith("deny"), verdict
            assert conn.execute("SELECT pgwarden.check_connection('127.0.0.3', %s, %s)",
                                [PLAIN, SHOP]).fetchone()[0].startswith("allow")
        finally:
            conn.execute("DROP TABLE IF EXISTS regress_rt_more")
            allowlist.reset(conn, force=True)
            allowlist.wait_published(conn)


# ---------------------------------------------------------------------------
# The policy worker and the control database's owner
# ---------------------------------------------------------------------------

def test_control_database_owner_cannot_make_the_policy_unreadable(
        private_cluster: ClusterFactory) -> None:
    """Succeeded before the fix: the (non-superuser) owner of the control
    database ran ALTER DATABASE ... SET role = itself; from the next server
    start the policy loader ran as that owner, could not read pgwarden's
    tables, and the policy was damaged: every TCP connection of the cluster
    refused.  The other settings would make it fail or wait."""
    c = private_cluster(tls=False)
    with c.connect() as conn:
        conn.execute("CREATE ROLE regress_ctl_owner LOGIN")
        conn.execute("CREATE DATABASE regress_ctl OWNER regress_ctl_owner")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
    with c.connect("regress_ctl", user="regress_ctl_owner") as conn:
        for setting in ("role = regress_ctl_owner", "default_transaction_read_only = on",
                        "default_transaction_isolation = serializable",
                        "default_transaction_deferrable = on", "lock_timeout = '1ms'",
                        "statement_timeout = '1ms'"):
            conn.execute(f"ALTER DATABASE regress_ctl SET {setting}")
    c.restart()
    with c.connect("regress_ctl", options="-c role=none -c default_transaction_read_only=off"
                   " -c statement_timeout=0") as conn:
        conn.execute("SELECT pgwarden.ip_allow_add(ARRAY['127.0.0.1'])")
        deadline = time.monotonic() + 5
        while True:
            row = conn.execute("SELECT s.state, s.version = v.version, s.detail"
                               " FROM pgwarden.policy_status() s, pgwarden.policy_version v"
                               ).fetchone()
            if row is not None and row[:2] == ("loaded", True):
                break
            assert time.monotonic() < deadline, row
            time.sleep(0.05)


# ---------------------------------------------------------------------------
# Helper steps called directly by a pgwarden_admin member
# ---------------------------------------------------------------------------

def test_admin_member_cannot_repoint_a_child_of_a_protected_branch(shop: Cluster) -> None:
    """Succeeded before the fix: ADMIN marked the child of a protected
    branch for reset, created a database of its own and finished the reset
    with it; the child's branch roles (OWNER's privileges inside the child)
    were bound to ADMIN's database instead.  _finish_reset, like every other
    step of a copy of a protected branch, is for superusers only.  (Since
    the third pass ADMIN may no longer call _begin_change or _finish_reset
    at all; the attack goes through the 0.2.0 steps, _reset_swapped.)"""
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.protect_branch(%s)", [SHOP])
    Project(shop.local_dsn(CONTROL_DB)).create_branch(CHILD, SHOP, strategy="template")
    with shop.connect(CONTROL_DB, user=ADMIN) as conn:
        conn.autocommit = True
        for step in ("SELECT * FROM pgwarden._begin_change(%s, 'reset')",
                     "SELECT pgwarden._finish_reset(%s, 'regress_rt_mine', NULL)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(step, [CHILD])
        conn.execute("SELECT pgwarden._lock_branch(%s)", [CHILD])
        conn.execute("SELECT * FROM pgwarden._begin_operation(%s, 'reset')", [CHILD])
        conn.execute("CREATE DATABASE regress_rt_mine")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="requires a superuser"):
            conn.execute("SELECT pgwarden._reset_swapped(%s, 'regress_rt_mine', NULL, 'template')",
                         [CHILD])
        conn.execute("SELECT pgwarden._abort_operation(%s)", [CHILD])
    with shop.connect(CONTROL_DB) as conn:
        assert conn.execute("SELECT database FROM pgwarden.branches WHERE name = %s",
                            [CHILD]).fetchone() == (CHILD,)
        assert conn.execute("SELECT l.label FROM pg_shseclabel l JOIN pg_roles r ON r.oid = l.objoid"
                            " WHERE r.rolname = %s", [f"{OWNER}@{CHILD}"]).fetchone() == (
            f"branch-role:{database_oid(conn, CHILD)}",)
        assert conn.execute("SELECT count(*) FROM pg_shseclabel l JOIN pg_database d"
                            " ON d.oid = l.objoid WHERE d.datname = 'regress_rt_mine'"
                            ).fetchone() == (0,)


# ---------------------------------------------------------------------------
# Branch roles: nothing that acts outside the branch
# ---------------------------------------------------------------------------

def test_branch_role_does_not_get_the_parents_server_functions(shop: Cluster) -> None:
    """Succeeded before the fix: OWNER had been granted EXECUTE on
    pg_read_file() and pg_read_binary_file() in the protected parent (as a
    monitoring role would be); carry_privileges granted them to OWNER's
    branch role in the child, which then read the server's files and the
    protected parent's own relation files.  The server's functions that
    initdb (or an extension) keeps from PUBLIC act on the cluster, like
    membership in pg_read_server_files, and are not carried."""
    with shop.connect(SHOP) as conn:
        for fn in ("pg_read_file(text)", "pg_read_binary_file(text)", "lo_export(oid, text)"):
            conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION pg_catalog.{} TO {}").format(
                sql.SQL(fn), q(OWNER)))
    as_owner(shop, "CREATE TABLE t (x int)",
             "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
             "REVOKE ALL ON FUNCTION public.f() FROM PUBLIC",
             f"GRANT EXECUTE ON FUNCTION public.f() TO {PLAIN}")
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.protect_branch(%s)", [SHOP])
    created = Project(shop.local_dsn(CONTROL_DB)).create_branch(CHILD, SHOP, strategy="template")
    creds = {c.parent_role: c for c in created.credentials}
    with psycopg.connect(shop.tcp_dsn(creds[OWNER].role, creds[OWNER].password,
                                      dbname=CHILD)) as conn:
        for call in ("SELECT pg_read_file('pg_hba.conf')",
                     "SELECT pg_read_binary_file('global/pg_control')",
                     "SELECT lo_export(0, '/tmp/regress_rt')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(call)
            conn.rollback()
        conn.execute("SELECT count(*) FROM t")      # what OWNER owns is still carried
    with psycopg.connect(shop.tcp_dsn(creds[PLAIN].role, creds[PLAIN].password,
                                      dbname=CHILD)) as conn:
        assert conn.execute("SELECT public.f()").fetchone() == (1,)


class ReplacedAfterCopy(Project):
    """The template copy, after which OWNER (it owns the new database and
    has CREATEDB) renames it away and creates a database of its own under
    the same name, before the helper registers the copy."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.local_dsn(CONTROL_DB))
        self.cluster = cluster

    def _template_copy(self, conn: Any, parent: str, src: dict[str, Any], db: str) -> str:
        lsn = super()._template_copy(conn, parent, src, db)
        with self.cluster.connect(user=OWNER) as attacker:
            attacker.execute(sql.SQL("ALTER DATABASE {} RENAME TO regress_rt_moved").format(q(db)))
            attacker.execute(sql.SQL("CREATE DATABASE {}").format(q(db)))
        return lsn


def test_a_database_swapped_in_after_the_copy_is_not_registered(shop: Cluster) -> None:
    """Held: _finish_create accepts only the database this session created
    (by OID), not whatever has its name by then."""
    with shop.connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(q(OWNER)))
    with pytest.raises(psycopg.Error) as info:
        ReplacedAfterCopy(shop).create_branch(CHILD, SHOP, strategy="template")
    assert info.value.sqlstate == "42501", info.value
    with shop.connect(CONTROL_DB) as conn:
        assert conn.execute("SELECT count(*) FROM pgwarden.branch WHERE name = %s",
                            [CHILD]).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_shseclabel l JOIN pg_database d"
                            " ON d.oid = l.objoid WHERE d.datname LIKE 'regress\\_rt\\_%%'"
                            " AND l.label LIKE 'branch:%%'").fetchone() == (1,)   # SHOP only


def test_a_read_only_default_of_the_parent_does_not_stop_the_carry(shop: Cluster) -> None:
    """Held once the helper's connections set default_transaction_read_only
    off as a client option: the parent's ALTER DATABASE ... SET, copied to
    the child, no longer makes carry_privileges fail (and the branch with
    it)."""
    as_owner(shop, "CREATE TABLE t (x int)",
             f"ALTER DATABASE {SHOP} SET default_transaction_read_only = on")
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.protect_branch(%s)", [SHOP])
    created = Project(shop.local_dsn(CONTROL_DB)).create_branch(CHILD, SHOP, strategy="template")
    cred = next(c for c in created.credentials if c.parent_role == OWNER)
    with psycopg.connect(shop.tcp_dsn(cred.role, cred.password, dbname=CHILD)) as conn:
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 't'"
                            ).fetchone() == (cred.role,)


# ===========================================================================
# Third pass: branch operations one at a time and recoverable, project
# delete, the toggles, the gate's registry, read-only endpoints on 16-18
# ===========================================================================

VICTIM = "regress_rt_victim"    # a branch of ADMIN's choosing, not ADMIN's database


def interrupted_superuser_delete(cluster: Cluster, branch: str) -> None:
    """A superuser's delete of `branch` killed right after it was recorded
    (the helper's delete:begun point): the row says what to finish, the
    branch is marked busy, its database is still there."""
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden._lock_branch(%s)", [branch])
        conn.execute("SELECT * FROM pgwarden._begin_operation(%s, 'delete')", [branch])
    # the session ends: its lock goes, the row stays


def test_admin_member_cannot_aim_a_superusers_recovery_at_another_database(shop: Cluster) -> None:
    """Succeeded before the fix: a superuser's delete of a branch of its own
    was interrupted.  ADMIN (which cannot drop SHOP: OWNER owns it) forgot
    that branch with the 0.1.0 step _finish_delete, forgot SHOP's branch the
    same way, registered SHOP under the interrupted branch's name and marked
    it for deletion with the 0.1.0 step _begin_change, none of which looks
    at the operation record.  The superuser's `pgwarden branches recover`
    then finished "its own" delete and dropped SHOP.  The 0.1.0 steps the
    0.2.0 helper no longer calls (_begin_change, _abort_change,
    _finish_reset) are no longer granted to pgwarden_admin, and
    _finish_delete and _unregister_branch refuse a branch with an
    operation recorded (or marked busy) unless it is this session's own."""
    with shop.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(q(VICTIM)))
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.register_branch(%s)", [VICTIM])
    interrupted_superuser_delete(shop, VICTIM)
    steps = [
        ("SELECT pgwarden._lock_branch(%s)", VICTIM),
        ("SELECT pgwarden._finish_delete(%s)", VICTIM),
        ("SELECT pgwarden._lock_branch(%s)", SHOP),
        ("SELECT * FROM pgwarden._begin_change(%s, 'delete')", SHOP),
        ("SELECT pgwarden._finish_delete(%s)", SHOP),
        ("SELECT pgwarden._unregister_branch(%s)", SHOP),
    ]
    with shop.connect(CONTROL_DB, user=ADMIN) as conn:
        conn.autocommit = True
        for stmt, arg in steps:
            with suppress(psycopg.Error):
                conn.execute(stmt, [arg])
        with suppress(psycopg.Error):
            conn.execute("SELECT pgwarden.register_branch(%s, NULL, %s)", [SHOP, VICTIM])
        with suppress(psycopg.Error):
            conn.execute("SELECT * FROM pgwarden._begin_change(%s, 'delete')", [VICTIM])
    Project(shop.local_dsn(CONTROL_DB)).recover()
    assert database_exists(shop, SHOP)
    with shop.connect(CONTROL_DB) as conn:
        assert conn.execute("SELECT database FROM pgwarden.branches WHERE name = %s",
                            [SHOP]).fetchone() == (SHOP,)


# ---------------------------------------------------------------------------
# Read-only endpoints: the functions of other extensions
# ---------------------------------------------------------------------------

RO = "regress_rt_ro"


@pytest.fixture
def ro_shop(shop: Cluster) -> Iterator[Cluster]:
    """SHOP with a read-only endpoint RO and a table t of OWNER's, vacuumed
    (so it has a visibility map to truncate)."""
    as_owner(shop, "CREATE TABLE t (id int PRIMARY KEY, v text)",
             "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 50) g",
             "VACUUM t")
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.create_endpoint(%s, %s, 'read_only')", [SHOP, RO])
        allowlist.wait_published(conn)
    yield shop


def through_ro(cluster: Cluster, stmt: str, user: str = "postgres") -> str | None:
    """None when the statement ran through the read-only endpoint, else its SQLSTATE."""
    with cluster.connect(SHOP, user=user, options=f"-c pgwarden.endpoint={RO}") as conn:
        assert conn.execute("SELECT pgwarden_ro FROM (SELECT current_setting("
                            "'default_transaction_read_only') AS pgwarden_ro) x"
                            ).fetchone() == ("on",)
        try:
            conn.execute(stmt)
        except psycopg.Error as exc:
            return exc.diag.sqlstate
    return None


def available_extensions(cluster: Cluster) -> set[str]:
    with cluster.connect(SHOP) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}


def table_fingerprint(cluster: Cluster) -> Any:
    with cluster.connect(SHOP) as conn:
        return conn.execute("SELECT count(*), md5(string_agg(t::text, ',' ORDER BY id)),"
                            " (SELECT pg_relation_size('t', 'vm')) FROM t").fetchone()


#: Attacks by a superuser through a read-only endpoint with a function of a
#: contrib extension that writes without asking whether the transaction
#: may: (extension, statement).
CONTRIB_WRITES = [
    ("pg_surgery", "SELECT heap_force_kill('t'::regclass, ARRAY['(0,1)']::tid[])"),
    ("pg_surgery", "SELECT heap_force_freeze('t'::regclass, ARRAY['(0,2)']::tid[])"),
    ("pg_visibility", "SELECT pg_truncate_visibility_map('t'::regclass)"),
    ("adminpack", "SELECT pg_catalog.pg_file_write('regress_rt_written', 'x', false)"),
    ("adminpack", "SELECT pg_catalog.pg_file_sync('postgresql.conf')"),
    ("adminpack", "SELECT pg_catalog.pg_file_rename('regress_rt_none', 'regress_rt_none2')"),
    ("adminpack", "SELECT pg_catalog.pg_file_unlink('regress_rt_none')"),
    ("pg_prewarm", "SELECT autoprewarm_dump_now()"),
    ("pg_stat_statements", "SELECT pg_stat_statements_reset()"),
]


@pytest.mark.parametrize("extension, stmt", CONTRIB_WRITES,
                         ids=[s.split("(")[0].split()[-1] for _, s in CONTRIB_WRITES])
def test_contrib_functions_that_write_are_refused_through_a_read_only_endpoint(
        ro_shop: Cluster, extension: str, stmt: str) -> None:
    """Succeeded before the fix (those the server has): readonly.c judged
    built-ins by OID and pgwarden's own C functions by symbol, and let
    every other extension's C function run.  A superuser on a read-only
    endpoint killed and froze rows with pg_surgery (the page rewritten and
    WAL-logged, no transaction ID, so the commit backstop saw nothing),
    truncated a visibility map, wrote and renamed files in the data
    directory with adminpack and dumped autoprewarm.blocks.  The writers
    of the contrib modules are now refused by library and symbol, like
    pgwarden's own."""
    if extension not in available_extensions(ro_shop):
        pytest.skip(f"{extension} is not available on this server")
    with ro_shop.connect(SHOP) as conn:
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(q(extension)))
    before = table_fingerprint(ro_shop)
    written = ro_shop.data / "regress_rt_written"
    try:
        assert through_ro(ro_shop, stmt) == "25006"
        assert table_fingerprint(ro_shop) == before
        assert not written.exists()
    finally:
        with suppress(OSError):
            written.unlink()


#: Non-immutable C functions of the contrib modules that a read-only
#: endpoint may run, by extension (every function of it, or those named),
#: with the reason.  The refused ones are in ext/readonly.c.
CONTRIB_HARMLESS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reads pages, tuples, WAL or statistics": (
        "amcheck", "pageinspect", "pgstattuple", "pg_walinspect", "pg_freespacemap",
        "pgrowlocks", "old_snapshot", "pg_logicalinspect",
        "pg_visibility:pg_visibility", "pg_visibility:pg_visibility_map",
        "pg_visibility:pg_visibility_rel", "pg_visibility:pg_visibility_map_rel",
        "pg_visibility:pg_visibility_map_summary", "pg_visibility:pg_check_frozen",
        "pg_visibility:pg_check_visible",
        "pg_buffercache:pg_buffercache_pages", "pg_buffercache:pg_buffercache_summary",
        "pg_buffercache:pg_buffercache_usage_counts", "pg_buffercache:pg_buffercache_numa_pages",
        "pg_prewarm:pg_prewarm",      # reads blocks into buffers, as a SELECT does
        "pg_stat_statements:pg_stat_statements_1_2", "pg_stat_statements:pg_stat_statements_1_3",
        "pg_stat_statements:pg_stat_statements_1_8", "pg_stat_statements:pg_stat_statements_1_9",
        "pg_stat_statements:pg_stat_statements_1_10", "pg_stat_statements:pg_stat_statements_1_11",
        "pg_stat_statements:pg_stat_statements_1_12", "pg_stat_statements:pg_stat_statements",
        "pg_stat_statements:pg_stat_statements_info",
        "adminpack:pg_logdir_ls", "adminpack:pg_logdir_ls_v1_1", "sslinfo"),
    "computes a value (random, crypto, text search, similarity, tables from queries)": (
        "pgcrypto", "uuid-ossp", "pg_trgm", "intarray", "tablefunc", "unaccent", "dict_int",
        "dict_xsyn", "xml2", "tsm_system_rows", "tsm_system_time", "bloom", "plpgsql",
        "fuzzystrmatch", "hstore", "ltree", "cube", "seg", "isn", "citext", "btree_gist",
        "btree_gin"),
    "fires as a trigger, which only a write does, and a read-only transaction refuses writes": (
        "autoinc", "insert_username", "lo", "moddatetime", "refint", "tcn"),
    "opens a connection of its own, which the gate judges as any other client's": (
        "dblink", "postgres_fdw", "file_fdw"),
}


#: Handlers (of a procedural language, an index or table access method, a
#: sampling method, a foreign-data wrapper) run only inside a statement that
#: is itself checked: PL/Tcl's and pgvector's, as the servers of some
#: majors ship them, are harmless by what they return.
CONTRIB_HANDLER_TYPES = {"language_handler", "index_am_handler", "table_am_handler",
                         "tsm_handler", "fdw_handler"}


def test_every_contrib_function_is_classified_for_read_only_endpoints(shop: Cluster) -> None:
    """Held once the previous test's fix was in (the catalog check that
    found its gaps): every contrib extension this server has is created in
    a scratch database, and each of their C functions that is not
    immutable is either refused by the server (readonly_refusals(), read
    there) or classified above as harmless, with a reason."""
    db = "regress_rt_contrib"
    with shop.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(q(db)))
    with shop.connect(db) as conn:
        for (name,) in conn.execute("SELECT name FROM pg_available_extensions"
                                    " WHERE name <> 'pgwarden' ORDER BY 1").fetchall():
            with suppress(psycopg.Error):
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {} CASCADE").format(q(name)))
        conn.execute("CREATE FUNCTION regress_refusals(OUT function oid, OUT kind text,"
                     " OUT detail text) RETURNS SETOF record"
                     " AS '$libdir/pgwarden', 'pgwarden_readonly_refusals' LANGUAGE C")
        refused = {r[0] for r in conn.execute("SELECT function::oid FROM regress_refusals()")}
        rows = conn.execute("""
            SELECT p.oid, e.extname, p.prosrc, p.oid::regprocedure::text,
                   p.prorettype::regtype::text
              FROM pg_proc p
              JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                              AND d.deptype = 'e'
              JOIN pg_extension e ON e.oid = d.refobjid
             WHERE p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
               AND p.provolatile <> 'i'""").fetchall()
    harmless = {p for _, pats in CONTRIB_HARMLESS.items() for p in pats}
    assert len(rows) > 100
    unclassified = [f"{ext}: {sig} ({src})" for oid, ext, src, sig, rettype in rows
                    if oid not in refused and ext not in harmless
                    and f"{ext}:{src}" not in harmless and rettype not in CONTRIB_HANDLER_TYPES]
    assert not unclassified, unclassified
    # and nothing called harmless is refused
    assert not [sig for oid, ext, src, sig, _ in rows
                if oid in refused and f"{ext}:{src}" in harmless]
    # and the writers attacked above are among the refused, for the
    # extensions this server has (adminpack is gone from PostgreSQL 17 on)
    created = {ext for _, ext, *_ in rows}
    assert len({oid for oid, *_ in rows} & refused) >= len(
        [stmt for ext, stmt in CONTRIB_WRITES if ext in created])


def test_a_foreign_table_reading_a_program_does_not_run_through_a_read_only_endpoint(
        ro_shop: Cluster) -> None:
    """Succeeded before the fix: a file_fdw foreign table whose rows come
    from a program (made by a superuser on a read-write endpoint, SELECT
    granted to PLAIN) ran that program on the server for anyone reading it
    through a read-only endpoint; the program writes what it likes.  COPY
    FROM PROGRAM is refused there (COPY FROM into a table), COPY TO
    PROGRAM by readonly.c; a scan of such a table is now refused too."""
    mark = ro_shop.data / "regress_rt_program_ran"
    with ro_shop.connect(SHOP) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS file_fdw")
        conn.execute("CREATE SERVER regress_rt_files FOREIGN DATA WRAPPER file_fdw")
        conn.execute(sql.SQL("CREATE FOREIGN TABLE regress_rt_prog (x text) SERVER regress_rt_files"
                             " OPTIONS (program {})").format(
            sql.Literal(f"touch {mark}; echo 1")))
        conn.execute(sql.SQL("CREATE FOREIGN TABLE regress_rt_file (x text) SERVER regress_rt_files"
                             " OPTIONS (filename {})").format(sql.Literal(str(ro_shop.data / "PG_VERSION"))))
        conn.execute(sql.SQL("GRANT SELECT ON regress_rt_prog, regress_rt_file TO {}").format(q(PLAIN)))
    try:
        for user in ("postgres", PLAIN):
            assert through_ro(ro_shop, "SELECT * FROM regress_rt_prog", user=user) == "25006"
            assert through_ro(ro_shop, "SELECT count(*) FROM (SELECT * FROM regress_rt_prog) s"
                                       " WHERE false", user=user) == "25006"
            assert not mark.exists()
            # a foreign table reading a file is a read
            assert through_ro(ro_shop, "SELECT * FROM regress_rt_file", user=user) is None
    finally:
        with suppress(OSError):
            mark.unlink()


# ---------------------------------------------------------------------------
# The gate's registry: endpoint slots
# ---------------------------------------------------------------------------

ONE = "regress_rt_one"


def stalled_client(cluster: Cluster, endpoint: str, user: str = "regress_rt_nobody") -> Any:
    """An unauthenticated client at an allowed address: TLS, a startup packet
    for SHOP through `endpoint`, then silence once asked for a password (the
    server waits up to authentication_timeout).  Needs no account at all."""
    import socket
    import ssl
    import struct
    raw = socket.create_connection(("127.0.0.1", cluster.port), timeout=10)
    raw.sendall(struct.pack("!II", 8, 80877103))
    assert raw.recv(1) == b"S"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = ctx.wrap_socket(raw)
    params = (b"user\0" + user.encode() + b"\0database\0" + SHOP.encode()
              + b"\0options\0-c pgwarden.endpoint=" + endpoint.encode() + b"\0\0")
    sock.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
    head = sock.recv(5)
    assert head[:1] == b"R", head       # asked for a password: admitted by the gate
    return sock


def test_unauthenticated_clients_cannot_fill_an_endpoint(shop: Cluster) -> None:
    """Succeeded before the fix: the endpoint's slot was claimed when the
    gate admitted the connection, before the password exchange, so a client
    with no account at all, at an allowed address, that sent a startup
    packet and then nothing held the only slot of a max_connections = 1
    endpoint for authentication_timeout, and again and again: the endpoint
    (of a protected branch too) was cut off for everyone.  PostgreSQL's
    own CONNECTION LIMIT counts authenticated sessions only; an endpoint's
    limit now does the same (the slot is claimed once the password
    exchange succeeded; a full endpoint still refuses with "endpoint
    unavailable")."""
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.protect_branch(%s)", [SHOP])
        conn.execute("SELECT pgwarden.create_endpoint(%s, %s, 'read_write', 1)", [SHOP, ONE])
        allowlist.wait_published(conn)
    dsn = shop.tcp_dsn(OWNER, PASSWORD, dbname=SHOP, options=f"-c pgwarden.endpoint={ONE}")
    stalled = [stalled_client(shop, ONE) for _ in range(3)]
    try:
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_setting('pgwarden.endpoint')").fetchone() == (ONE,)
            # the limit still holds for authenticated sessions
            with pytest.raises(psycopg.OperationalError, match="endpoint unavailable"):
                psycopg.connect(dsn).close()
    finally:
        for s in stalled:
            s.close()
    # and a slot is free again once the session ends
    time.sleep(0.2)
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")


# ---------------------------------------------------------------------------
# Branch operations: names pgwarden makes, taken by others
# ---------------------------------------------------------------------------

class SwappedBeforeReset(Project):
    """A reset's template copy (pgw_reset_*), after which OWNER, who owns
    the copy and has CREATEDB, renames it away and puts a database of its
    own under the copy's name, and takes the name the old database is to
    be renamed aside to as well, before the helper's swap."""

    def __init__(self, cluster: Cluster, *, take_aside: bool) -> None:
        super().__init__(cluster.local_dsn(CONTROL_DB))
        self.cluster, self.take_aside = cluster, take_aside

    def _template_copy(self, conn: Any, parent: str, src: dict[str, Any], db: str) -> str:
        lsn = super()._template_copy(conn, parent, src, db)
        with self.cluster.connect(user=OWNER) as attacker:
            attacker.execute(sql.SQL("ALTER DATABASE {} RENAME TO regress_rt_moved").format(q(db)))
            attacker.execute(sql.SQL("CREATE DATABASE {}").format(q(db)))
            if self.take_aside:
                attacker.execute(sql.SQL("CREATE DATABASE {}").format(q(db + "_old")))
        return lsn


@pytest.mark.parametrize("take_aside", [False, True])
def test_databases_named_like_a_resets_copy_are_never_swapped_in(shop: Cluster,
                                                                 take_aside: bool) -> None:
    """Held: the swap renames by name, but _reset_swapped accepts only the
    database this session created (by OID), so the transaction that
    renamed OWNER's database into the branch's name rolls back; a name
    taken for the old database makes the rename fail first.  The branch is
    as before, its database the same OID, nothing of OWNER's registered."""
    with shop.connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(q(OWNER)))
    Project(shop.local_dsn(CONTROL_DB)).create_branch(CHILD, SHOP, strategy="template")
    with shop.connect(CONTROL_DB) as conn:
        before = database_oid(conn, CHILD)
    with pytest.raises(psycopg.Error) as info:
        SwappedBeforeReset(shop, take_aside=take_aside).reset_branch(CHILD, strategy="template")
    assert info.value.sqlstate == ("42P04" if take_aside else "42501"), info.value
    with shop.connect(CONTROL_DB) as conn:
        assert database_oid(conn, CHILD) == before
        assert conn.execute("SELECT b.database_oid FROM pgwarden.branch b WHERE b.name = %s",
                            [CHILD]).fetchone() == (before,)
        assert conn.execute("SELECT count(*) FROM pgwarden.branch_operation").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pgwarden.branch b JOIN pg_database d"
                            " ON d.oid = b.database_oid WHERE d.datdba = %s::regrole",
                            [OWNER]).fetchone() == (2,)   # SHOP and CHILD only


def test_many_clients_at_once_get_one_slot_and_leak_none(shop: Cluster) -> None:
    """Held (after the fix above, which moved the claim after the password
    exchange): twelve clients authenticating at once against a
    max_connections = 1 endpoint get one session between them, every
    other one "endpoint unavailable" (before the password or, having lost
    the race for the last slot, after it); a session killed by
    pg_terminate_backend and clients that hang up mid-exchange leave no
    slot behind."""
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.create_endpoint(%s, %s, 'read_write', 1)", [SHOP, ONE])
        allowlist.wait_published(conn)
    dsn = shop.tcp_dsn(OWNER, PASSWORD, dbname=SHOP, options=f"-c pgwarden.endpoint={ONE}")
    start, done = threading.Barrier(12), threading.Event()
    admitted: list[int] = []
    refused: list[str] = []

    def client() -> None:
        start.wait()
        try:
            with psycopg.connect(dsn) as conn:
                admitted.append(conn.info.backend_pid)
                done.wait(30)
        except psycopg.OperationalError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=client) for _ in range(12)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(admitted) + len(refused) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    for t in threads:
        t.join()
    assert len(admitted) == 1, (admitted, refused)
    assert len(refused) == 11 and all("endpoint unavailable" in r for r in refused), refused
    # hung up mid-exchange, and killed: no slot left behind
    for s in [stalled_client(shop, ONE) for _ in range(3)]:
        s.close()
    with psycopg.connect(dsn) as victim:
        pid = victim.info.backend_pid
        with shop.connect(SHOP) as conn:
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    for _ in range(50):
        try:
            with psycopg.connect(dsn) as conn:
                conn.execute("SELECT 1")
            break
        except psycopg.OperationalError:
            time.sleep(0.1)
    else:
        pytest.fail("the endpoint's slot leaked")
    with shop.connect(CONTROL_DB) as conn:
        for _ in range(50):
            if conn.execute("SELECT sessions FROM pgwarden._endpoint_sessions()"
                            " WHERE endpoint = %s", [ONE]).fetchone() in (None, (0,)):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the endpoint still counts a session that ended")


#: A superuser's preparation on the read-write endpoint: default btree and
#: hash operator classes for regclass whose hash function is the built-in
#: brin_summarize_new_values(regclass) (it returns integer, as a hash
#: function does), so that hashing a regclass value summarises a BRIN index.
HASH_OPCLASS = [
    "CREATE FUNCTION regress_rc_eq(regclass, regclass) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'oideq'",
    "CREATE FUNCTION regress_rc_lt(regclass, regclass) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'oidlt'",
    "CREATE FUNCTION regress_rc_le(regclass, regclass) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'oidle'",
    "CREATE FUNCTION regress_rc_gt(regclass, regclass) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'oidgt'",
    "CREATE FUNCTION regress_rc_ge(regclass, regclass) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'oidge'",
    "CREATE FUNCTION regress_rc_cmp(regclass, regclass) RETURNS integer LANGUAGE internal IMMUTABLE STRICT AS 'btoidcmp'",
    "CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = regress_rc_eq, HASHES, MERGES)",
    "CREATE OPERATOR public.< (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = regress_rc_lt)",
    "CREATE OPERATOR public.<= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = regress_rc_le)",
    "CREATE OPERATOR public.> (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = regress_rc_gt)",
    "CREATE OPERATOR public.>= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = regress_rc_ge)",
    """CREATE OPERATOR CLASS regress_rc_btree DEFAULT FOR TYPE regclass USING btree AS
         OPERATOR 1 public.<, OPERATOR 2 public.<=, OPERATOR 3 public.=, OPERATOR 4 public.>=,
         OPERATOR 5 public.>, FUNCTION 1 regress_rc_cmp(regclass, regclass)""",
    """CREATE OPERATOR CLASS regress_rc_hash DEFAULT FOR TYPE regclass USING hash AS
         OPERATOR 1 public.=, FUNCTION 1 pg_catalog.brin_summarize_new_values(regclass)""",
]


def test_a_refused_builtin_as_a_support_function_does_not_run_through_a_read_only_endpoint(
        ro_shop: Cluster) -> None:
    """Succeeded before the fix: the read-only endpoint refuses functions
    as the executor initialises their calls (OAT_FUNCTION_EXECUTE), but a
    type's support functions (hashing, comparing, sorting) are called
    through fmgr without that hook, and a built-in without any hook at
    all.  A superuser made brin_summarize_new_values() the hash function
    of regclass on the read-write endpoint; a DISTINCT over a regclass
    value, hashed, through the read-only endpoint then summarised the
    BRIN index (pages and WAL written, no transaction ID).  An operator
    class, operator, cast or aggregate may no longer name a function that
    read-only endpoints refuse (refused on every endpoint: no support
    function needs one)."""
    as_owner(ro_shop, "CREATE INDEX regress_rt_brin ON t USING brin (id) WITH (pages_per_range = 1)",
             "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(51, 5000) g")
    with ro_shop.connect(SHOP) as conn:
        for stmt in HASH_OPCLASS[:-1]:
            conn.execute(stmt)
        # refused where it is made, on the read-write endpoint, by a superuser
        with pytest.raises(psycopg.errors.InvalidObjectDefinition,
                           match="cannot be a support function"):
            conn.execute(HASH_OPCLASS[-1])
        # as an operator's function too (index scans call it through fmgr)
        with pytest.raises(psycopg.errors.InvalidObjectDefinition,
                           match="cannot be the function of an operator"):
            conn.execute("CREATE OPERATOR public.### (LEFTARG = regclass, RIGHTARG = bigint,"
                         " FUNCTION = pg_catalog.brin_summarize_range)")
        # and through a LANGUAGE internal wrapper of it
        conn.execute("CREATE FUNCTION regress_rc_hash(regclass) RETURNS integer"
                     " LANGUAGE internal AS 'brin_summarize_new_values'")
        with pytest.raises(psycopg.errors.InvalidObjectDefinition):
            conn.execute(HASH_OPCLASS[-1].replace(
                "pg_catalog.brin_summarize_new_values(regclass)", "regress_rc_hash(regclass)"))
        # the harmless functions still make operator classes
        conn.execute(HASH_OPCLASS[-1].replace(
            "pg_catalog.brin_summarize_new_values(regclass)", "pg_catalog.hashoid(oid)"))

    def ranges() -> Any:
        with ro_shop.connect(SHOP) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
            return conn.execute("SELECT count(*) FROM brin_revmap_data(get_raw_page("
                                "'regress_rt_brin', 1)) WHERE pages <> '(0,0)'").fetchone()
    before = ranges()
    stmt = ("SELECT x FROM (VALUES ('regress_rt_brin'::regclass), ('regress_rt_brin'::regclass))"
            " v(x) GROUP BY x")
    with ro_shop.connect(SHOP, options=f"-c pgwarden.endpoint={RO} -c enable_sort=off") as conn:
        conn.execute(stmt)
    assert ranges() == before


#: Ways to write that the refused-function list does not name: utility
#: statements, row locks, procedures that commit, cursors, settings
#: reset, roles switched.  Each must fail with 25006 (or run and change
#: nothing).
RO_STATEMENTS = [
    "SELECT * FROM t WHERE id = 1 FOR UPDATE",
    "SELECT * FROM t WHERE id = 1 FOR KEY SHARE",
    "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d",
    "CALL regress_rt_commit()",
    "DISCARD ALL; INSERT INTO t VALUES (-1, 'x')",
    "RESET ALL; INSERT INTO t VALUES (-1, 'x')",
    "SET SESSION AUTHORIZATION regress_rt_owner; INSERT INTO t VALUES (-1, 'x')",
    "SET ROLE regress_rt_owner; INSERT INTO t VALUES (-1, 'x')",
    "BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT nextval('regress_rt_seq'); COMMIT; FETCH c",
    "CREATE TEMP TABLE regress_rt_tmp (x serial)",
    "COPY t FROM PROGRAM 'echo 1,x' (FORMAT csv)",
    "SECURITY LABEL FOR pgwarden ON TABLE t IS 'x'",
    "REFRESH MATERIALIZED VIEW regress_rt_mv",
    "ALTER SEQUENCE regress_rt_seq RESTART",
    "SELECT setval('regress_rt_seq', 42) FROM (VALUES (1)) v GROUP BY 1",
    "EXPLAIN ANALYZE SELECT nextval('regress_rt_seq')",
    "DO $$BEGIN PERFORM nextval('regress_rt_seq');END$$",
    "SELECT pg_catalog.set_config('default_transaction_read_only', 'off', true)",
]


def test_statements_beyond_the_function_list_write_nothing_through_a_read_only_endpoint(
        ro_shop: Cluster) -> None:
    """Held: every statement above fails with 25006 through the read-only
    endpoint, for a superuser, and the table, the sequence and the
    materialized view are as before."""
    as_owner(ro_shop, "CREATE SEQUENCE regress_rt_seq",
             "CREATE MATERIALIZED VIEW regress_rt_mv AS SELECT count(*) FROM t",
             "CREATE PROCEDURE regress_rt_commit() LANGUAGE plpgsql AS $$"
             " BEGIN COMMIT; INSERT INTO t VALUES (-2, 'y'); COMMIT; END $$")

    def state() -> Any:
        with ro_shop.connect(SHOP) as conn:
            return (table_fingerprint(ro_shop),
                    conn.execute("SELECT last_value, is_called FROM regress_rt_seq").fetchone(),
                    conn.execute("SELECT * FROM regress_rt_mv").fetchone())

    before = state()
    got_through = []
    for stmt in RO_STATEMENTS:
        with ro_shop.connect(SHOP, options=f"-c pgwarden.endpoint={RO}") as conn:
            try:
                for part in stmt.split("; "):
                    conn.execute(part)
                got_through.append(stmt)
            except psycopg.Error as exc:
                if exc.diag.sqlstate != "25006":
                    got_through.append(f"{stmt} ({exc.diag.sqlstate}: {exc.diag.message_primary})")
    assert not got_through, got_through
    assert state() == before


class ProtectedMidReset(Project):
    """A reset during whose copy a superuser protects the branch."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.local_dsn(CONTROL_DB))
        self.cluster = cluster

    def _template_copy(self, conn: Any, parent: str, src: dict[str, Any], db: str) -> str:
        lsn = super()._template_copy(conn, parent, src, db)
        with self.cluster.connect(CONTROL_DB) as other:
            other.execute("SELECT pgwarden.protect_branch(%s)", [CHILD])
        return lsn


def test_a_branch_protected_during_its_reset_or_delete_stays_as_it_was(shop: Cluster) -> None:
    """Held for the reset: protected while its copy was made, the branch's
    database cannot be renamed aside (PW001), the swap rolls back, the copy
    is dropped and the branch is as before, protected.  Succeeded before
    the fix for an interrupted delete: a delete recorded, then the branch
    protected, then `branches recover`: recovery finished the delete,
    which _finish_delete refused (PW001), so recover() failed, for every
    branch after that one too, and every later operation on the branch
    failed the same way until someone unprotected it.  An interrupted
    delete of a branch protected since is now undone."""
    Project(shop.local_dsn(CONTROL_DB)).create_branch(CHILD, SHOP, strategy="template")
    with shop.connect(CONTROL_DB) as conn:
        before = database_oid(conn, CHILD)
    with pytest.raises(psycopg.Error) as info:
        ProtectedMidReset(shop).reset_branch(CHILD, strategy="template")
    assert info.value.sqlstate == "PW001", info.value
    with shop.connect(CONTROL_DB) as conn:
        assert conn.execute("SELECT b.database_oid, b.protected, b.busy FROM pgwarden.branch b"
                            " WHERE b.name = %s", [CHILD]).fetchone() == (before, True, None)
        assert conn.execute("SELECT count(*) FROM pgwarden.branch_operation").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'pgw\\_%%'"
                            ).fetchone() == (0,)
        conn.execute("SELECT pgwarden.unprotect_branch(%s)", [CHILD])
    interrupted_superuser_delete(shop, CHILD)
    with shop.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.protect_branch(%s)", [CHILD])
    project = Project(shop.local_dsn(CONTROL_DB))
    done = project.recover()
    assert done and "undone" in done[0], done
    assert database_exists(shop, CHILD)
    with shop.connect(CONTROL_DB) as conn:
        assert conn.execute("SELECT b.protected, b.busy FROM pgwarden.branch b WHERE b.name = %s",
                            [CHILD]).fetchone() == (True, None)
        assert conn.execute("SELECT count(*) FROM pgwarden.branch_operation").fetchone() == (0,)
        conn.execute("SELECT pgwarden.unprotect_branch(%s)", [CHILD])
    project.reset_branch(CHILD, strategy="template")      # the branch works again
