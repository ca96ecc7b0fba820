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
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden.branches import Project, UnsafeCopyError
from pgwarden.sandbox import Cluster

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
