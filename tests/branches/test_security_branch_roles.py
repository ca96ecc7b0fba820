"""A branch role has no privilege, visibility or identity outside its branch
(issue 8, item 1).

The reported attack: a branch role was a member of its parent role, so
pg_stat_activity showed it the parent role's sessions in every database,
query text included; after the parent ran ALTER ROLE app PASSWORD '...' in
the protected parent, app@dev read the plaintext there.  Now a branch role is
a member of no role; inside its branch it owns what the parent role owned and
holds what was granted to it (or to its groups), carried into the child's
own catalogs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden.branches import Credential, Project
from pgwarden.sandbox import Cluster
from support.branches import APP_PASSWORD, make_parent
from support.clusters import ClusterFactory
from support.helpers import assert_not_in

SECRET = "regress-customer-4111-1111-1111-1111"


def q(name: str) -> sql.Identifier:
    return sql.Identifier(name)


@pytest.fixture
def dev(cluster: Cluster, project: Project) -> Iterator[dict[str, Credential]]:
    """regress_child, a branch of the protected regress_main (owned by
    regress_app, readable by regress_reader through a group role)."""
    make_parent(cluster, protected=True, reader="regress_reader")
    with cluster.connect() as conn:
        conn.execute("CREATE ROLE regress_readers NOLOGIN")
        conn.execute("GRANT regress_readers TO regress_reader")
        conn.execute("GRANT pg_read_all_stats TO regress_app")
        conn.execute("GRANT pg_signal_backend TO regress_app")
    with cluster.connect("regress_main") as conn:
        conn.execute("SET ROLE regress_app")
        conn.execute("CREATE TABLE secrets (id int, v text)")
        conn.execute("CREATE SCHEMA app")
        conn.execute("CREATE TABLE app.orders (id int, note text)")
        conn.execute("CREATE SEQUENCE app.order_ids")
        conn.execute("CREATE FUNCTION app.total() RETURNS bigint LANGUAGE sql"
                     " AS 'SELECT count(*) FROM app.orders'")
        conn.execute("REVOKE ALL ON FUNCTION app.total() FROM PUBLIC")
        conn.execute("GRANT USAGE ON SCHEMA app TO regress_readers")
        conn.execute("GRANT SELECT ON app.orders TO regress_readers")
        conn.execute("GRANT SELECT (id) ON secrets TO regress_reader")
        conn.execute("GRANT EXECUTE ON FUNCTION app.total() TO regress_reader")
        conn.execute("ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY reader_rows ON app.orders TO regress_readers USING (id > 0)")
        conn.execute("INSERT INTO app.orders VALUES (1, 'one'), (-1, 'hidden')")
    created = project.create_branch("regress_child", "regress_main", strategy="template")
    yield {c.parent_role: c for c in created.credentials}


def tcp(cluster: Cluster, cred: Credential, dbname: str = "regress_child") -> psycopg.Connection[Any]:
    return psycopg.connect(cluster.tcp_dsn(cred.role, cred.password, dbname=dbname),
                           autocommit=True)


def test_branch_role_cannot_read_the_parents_sessions(cluster: Cluster,
                                                      dev: dict[str, Credential]) -> None:
    """The report: the parent's query text (a password, customer data) in
    pg_stat_activity; also pg_stat_statements-like views and pg_locks."""
    app = dev["regress_app"]
    with psycopg.connect(cluster.tcp_dsn("regress_app", APP_PASSWORD, dbname="regress_main"),
                         autocommit=True) as parent:
        parent.execute(f"SELECT '{SECRET}'")
        parent_pid = parent.info.backend_pid
        parent.execute("BEGIN")
        parent.execute("LOCK TABLE secrets IN ACCESS SHARE MODE")
        with tcp(cluster, app) as conn:
            rows = conn.execute(
                "SELECT usename, datname, query, client_addr, state FROM pg_stat_activity"
                " WHERE pid = %s", [parent_pid]).fetchall()
            assert rows, "pg_stat_activity lists every session"
            for row in rows:
                assert_not_in(SECRET, str(row), "pg_stat_activity")
                assert row[2] in (None, "<insufficient privilege>")
                assert row[3] is None and row[4] is None
            # Nothing else of the parent session: no SET ROLE, no membership.
            assert conn.execute("SELECT pg_has_role('regress_app', 'USAGE'),"
                                " pg_has_role('pg_read_all_stats', 'USAGE'),"
                                " pg_has_role('pg_signal_backend', 'USAGE')").fetchone() == (
                False, False, False)
            assert conn.execute("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r"
                                " ON r.oid = m.member WHERE r.rolname = %s",
                                [app.role]).fetchone() == (0,)
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SET ROLE regress_app")
            assert info.value.diag.sqlstate in ("42501", "PW002")
            # pg_stat_* of the parent's database: no per-session detail.
            assert conn.execute("SELECT count(*) FROM pg_stat_get_activity(%s)"
                                " WHERE query IS NOT NULL AND query <> '<insufficient privilege>'",
                                [parent_pid]).fetchone() == (0,)
        parent.execute("ROLLBACK")


def test_branch_role_still_acts_as_its_parent_inside_the_branch(
        cluster: Cluster, dev: dict[str, Credential]) -> None:
    app, reader = dev["regress_app"], dev["regress_reader"]
    with tcp(cluster, app) as conn:
        # ownership carried: the tables, the schema, the function, the database
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (1000,)
        conn.execute("INSERT INTO items VALUES (-1, 'child only')")
        conn.execute("ALTER TABLE items ADD COLUMN extra int")
        conn.execute("CREATE TABLE app.more (x int)")
        conn.execute("SELECT nextval('app.order_ids')")
        conn.execute("ALTER DATABASE regress_child SET work_mem = '2MB'")
        assert conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database"
                            " WHERE datname = 'regress_child'").fetchone() == (app.role,)
    with tcp(cluster, reader) as conn:
        # grants carried: column, function, a group's table grant and its policy
        conn.execute("SELECT id FROM secrets")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT v FROM secrets")
        assert conn.execute("SELECT app.total()").fetchone() == (1,)  # its policy applies
        assert conn.execute("SELECT note FROM app.orders").fetchall() == [("one",)]
    # The parent is untouched: its owner still owns it; its databases too.
    with cluster.connect("regress_main") as conn:
        assert conn.execute("SELECT pg_get_userbyid(relowner) FROM pg_class"
                            " WHERE relname = 'items'").fetchone() == ("regress_app",)
        assert conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database"
                            " WHERE datname = 'regress_main'").fetchone() == ("regress_app",)
        assert conn.execute("SELECT count(*) FROM items WHERE id = -1").fetchone() == (0,)


def test_reset_keeps_branch_roles_confined_and_privileged(
        cluster: Cluster, project: Project, dev: dict[str, Credential]) -> None:
    project.reset_branch("regress_child", strategy="template")
    app = dev["regress_app"]
    with tcp(cluster, app) as conn:
        conn.execute("INSERT INTO items VALUES (-2, 'after reset')")
        assert conn.execute("SELECT pg_has_role('regress_app', 'USAGE')").fetchone() == (False,)


def test_branch_roles_made_by_0_1_0_leave_their_parent_role_on_update(
        private_cluster: ClusterFactory) -> None:
    """A 0.1.0 branch role is a member of its parent; ALTER EXTENSION UPDATE
    ends that, and carry_privileges gives it the parent's rights in its
    branch again."""
    c = private_cluster(tls=False)
    with c.connect() as conn:
        if conn.execute("SELECT current_setting('server_version_num')::int"
                        ).fetchone()[0] >= 170000:  # type: ignore[index]
            pytest.skip("pgwarden 0.1.0 cannot branch on PostgreSQL 17 and later: its"
                        " _copy_source reads pg_database.daticulocale, datlocale since 17")
        conn.execute("CREATE ROLE regress_app LOGIN")
        conn.execute("CREATE DATABASE regress_ctl")
        conn.execute("CREATE DATABASE regress_main OWNER regress_app")
    with c.connect("regress_main", user="regress_app") as conn:
        conn.execute("CREATE TABLE items (id int)")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden VERSION '0.1.0'")
        conn.execute("SELECT pgwarden.register_branch('regress_main')")
        conn.execute("SELECT pgwarden.protect_branch('regress_main')")
        # the 0.1.0 helper's steps (the current helper needs the 0.2.0 SQL)
        conn.execute("SELECT pgwarden._arm_template_copy('regress_main')")
        conn.execute("CREATE DATABASE regress_child TEMPLATE regress_main OWNER regress_app")
        conn.execute("SELECT * FROM pgwarden._finish_create('regress_child', 'regress_main',"
                     " 'regress_child', NULL, 'template')")
    project = Project(c.local_dsn("regress_ctl"))
    with c.connect("regress_ctl") as conn:
        assert conn.execute("SELECT pg_has_role('regress_app@regress_child', 'regress_app',"
                            " 'MEMBER')").fetchone() == (True,)
        conn.execute("ALTER EXTENSION pgwarden UPDATE")
        assert conn.execute("SELECT pg_has_role('regress_app@regress_child', 'regress_app',"
                            " 'MEMBER')").fetchone() == (False,)
    assert project.carry_privileges("regress_child") > 0
    with c.connect("regress_child", user="regress_app@regress_child") as conn:
        conn.execute("INSERT INTO items VALUES (1)")


def test_cli_carry_privileges(cluster: Cluster, dev: dict[str, Credential]) -> None:
    from pgwarden import cli
    assert cli.main(["branches", "carry-privileges", "regress_child",
                     "--dsn", cluster.local_dsn("regress_control")]) == 0
    with tcp(cluster, dev["regress_app"]) as conn:
        conn.execute("INSERT INTO items VALUES (-3, 'again')")
