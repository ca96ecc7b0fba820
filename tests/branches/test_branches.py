"""Branches, protected branches, branch credentials: server-side protections
through raw SQL and through the helpers (pgwarden.Project and the CLI).

Connection-time enforcement (endpoints, branch-role binding, read-only
endpoints) is in test_branches_gate.py.
"""

from __future__ import annotations

import json
import string
import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden import cli
from pgwarden.branches import Project
from pgwarden.sandbox import Cluster
from support.branches import APP_PASSWORD, make_parent, q
from support.clusters import ClusterFactory
from support.helpers import assert_not_in, assert_not_logged

CONTROL_DB = "regress_control"
PW001 = "PW001"
PW002 = "PW002"
def expect_error(conn: psycopg.Connection[Any], stmt: str | sql.Composed,
                 sqlstate: str) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(stmt)
    assert info.value.diag.sqlstate == sqlstate, info.value.diag.message_primary
    return info.value


def assert_protection_error(err: psycopg.Error, branch: str) -> None:
    d = err.diag
    assert d.sqlstate == PW001
    assert f'branch "{branch}" is protected' in (d.message_primary or "")
    assert "pgwarden.unprotect_branch" in (d.message_hint or "")


def database_exists(cluster: Cluster, name: str) -> bool:
    with cluster.connect() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def checksum(conn: psycopg.Connection[Any], table: str = "items") -> str:
    row = conn.execute(sql.SQL("SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM {} t")
                       .format(q(table))).fetchone()
    assert row is not None
    return str(row[0])


# -- registering and the views ----------------------------------------------------

def test_register_branch_shows_in_view_with_default_endpoint(cluster: Cluster, project: Project,
                                                             admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster)
    row = admin.execute("SELECT name, database, parent, protected, endpoints, state"
                        " FROM pgwarden.branches WHERE name = 'regress_main'").fetchone()
    assert row == ("regress_main", "regress_main", None, False, ["regress_main"], "ready")
    ep = admin.execute("SELECT kind, is_default, suspended FROM pgwarden.endpoints"
                       " WHERE branch = 'regress_main'").fetchall()
    assert ep == [("read_write", True, False)]
    expect_error(admin, "SELECT pgwarden.register_branch('regress_main')", "42710")
    expect_error(admin, "SELECT pgwarden.register_branch('regress_nope')", "3D000")


def test_non_admin_cannot_manage_branches(cluster: Cluster, project: Project,
                                          admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster, protected=True)
    admin.execute("CREATE ROLE regress_nobody LOGIN")
    with cluster.connect(CONTROL_DB, user="regress_nobody") as conn:
        for stmt in ("SELECT pgwarden.unprotect_branch('regress_main')",
                     "SELECT * FROM pgwarden.branches",
                     "SELECT pgwarden.create_endpoint('regress_main', 'regress_x')",
                     "SELECT pgwarden._set_label('pg_database', 1, NULL)"):
            expect_error(conn, stmt, "42501")


# -- protections through raw SQL ---------------------------------------------------

RAW_PROTECTION_STATEMENTS = [
    "DROP DATABASE regress_main",
    "DROP DATABASE regress_main WITH (FORCE)",
    "DROP DATABASE IF EXISTS regress_main",
    "ALTER DATABASE regress_main ALLOW_CONNECTIONS false",
    "ALTER DATABASE regress_main CONNECTION LIMIT 0",
    "ALTER DATABASE regress_main WITH ALLOW_CONNECTIONS = false CONNECTION LIMIT = 0",
]


def test_protected_branch_raw_sql_refused_for_superuser(cluster: Cluster, project: Project) -> None:
    """Each statement, as a superuser, from the control database and from another one."""
    make_parent(cluster, protected=True)
    for from_db in (CONTROL_DB, "postgres"):
        with cluster.connect(from_db) as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)
            for stmt in RAW_PROTECTION_STATEMENTS:
                err = expect_error(conn, stmt, PW001)
                assert_protection_error(err, "regress_main")
    assert database_exists(cluster, "regress_main")
    with cluster.connect() as conn:
        row = conn.execute("SELECT datallowconn, datconnlimit FROM pg_database"
                           " WHERE datname = 'regress_main'").fetchone()
    assert row == (True, -1)


def test_protection_inside_functions_and_dropdb_client(cluster: Cluster, project: Project) -> None:
    make_parent(cluster, protected=True)
    with cluster.connect() as conn:
        # Nested utility statements go through the same hook.
        expect_error(conn, "DO $$BEGIN EXECUTE 'ALTER DATABASE regress_main CONNECTION LIMIT 0'; END$$",
                     PW001)
    out = cluster.run(cluster.bindir / "dropdb", "-h", cluster.sockdir, "-p", str(cluster.port),
                      "-U", "postgres", "--force", "regress_main", check=False)
    assert out.returncode != 0
    assert "is protected" in out.stderr and "unprotect_branch" in out.stderr
    assert database_exists(cluster, "regress_main")


def test_unprotected_branch_can_be_cut_off_and_dropped(cluster: Cluster, project: Project,
                                                       admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster, protected=True)
    admin.execute("SELECT pgwarden.unprotect_branch('regress_main')")
    admin.execute("ALTER DATABASE regress_main CONNECTION LIMIT 0")
    admin.execute("ALTER DATABASE regress_main CONNECTION LIMIT -1")
    admin.execute("DROP DATABASE regress_main")
    assert admin.execute("SELECT pgwarden.sync_branches()").fetchone() == (1,)
    assert admin.execute("SELECT count(*) FROM pgwarden.branches WHERE name = 'regress_main'").fetchone() == (0,)


def test_protection_is_transactional(cluster: Cluster, project: Project,
                                     admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster)
    with admin.transaction(force_rollback=True):
        admin.execute("SELECT pgwarden.protect_branch('regress_main')")
    with cluster.connect() as conn:
        conn.execute("ALTER DATABASE regress_main CONNECTION LIMIT 3")  # not protected
        admin.execute("SELECT pgwarden.protect_branch('regress_main')")
        # Seen by another database's session as soon as it committed.
        expect_error(conn, "DROP DATABASE regress_main", PW001)


def test_security_labels_cannot_be_changed_directly(cluster: Cluster, project: Project,
                                                    admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster, protected=True)
    for stmt in ("SECURITY LABEL FOR pgwarden ON DATABASE regress_main IS NULL",
                 "SECURITY LABEL FOR pgwarden ON DATABASE regress_main IS 'branch:regress_main'"):
        expect_error(admin, stmt, "42501")
    expect_error(admin, "DROP DATABASE regress_main", PW001)


def test_protected_rows_and_endpoints_resist_direct_dml(cluster: Cluster, project: Project,
                                                        admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster, protected=True)
    admin.execute("SELECT pgwarden.create_endpoint('regress_main', 'regress_ro', 'read_only')")
    for stmt in ("DELETE FROM pgwarden.endpoint WHERE name = 'regress_ro'",
                 "DELETE FROM pgwarden.branch WHERE name = 'regress_main'",
                 "SELECT pgwarden.drop_endpoint('regress_ro')",
                 "SELECT pgwarden.drop_endpoint('regress_main')"):
        assert_protection_error(expect_error(admin, stmt, PW001), "regress_main")
    with pytest.raises(psycopg.Error) as info:
        project.drop_endpoint("regress_ro")
    assert_protection_error(info.value, "regress_main")
    admin.execute("SELECT pgwarden.unprotect_branch('regress_main')")
    admin.execute("SELECT pgwarden.drop_endpoint('regress_ro')")
    expect_error(admin, "SELECT pgwarden.drop_endpoint('regress_main')", "55000")


def test_drop_extension_refused_while_a_branch_is_protected(cluster: Cluster, project: Project,
                                                            admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster, protected=True)
    for stmt in ("DROP EXTENSION pgwarden", "DROP EXTENSION pgwarden CASCADE",
                 "DROP SCHEMA pgwarden CASCADE"):
        err = expect_error(admin, stmt, PW001)
        assert "regress_main" in (err.diag.message_detail or "")
        assert "unprotect_branch" in (err.diag.message_hint or "")
    with pytest.raises(psycopg.Error) as info:
        project.delete_project()
    assert info.value.diag.sqlstate == PW001
    assert database_exists(cluster, "regress_main")
    assert admin.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pgwarden'").fetchone() == (1,)


def test_create_database_from_protected_template_refused(cluster: Cluster, project: Project) -> None:
    make_parent(cluster, protected=True)
    with cluster.connect() as conn:
        err = expect_error(conn, "CREATE DATABASE regress_copy TEMPLATE regress_main", PW001)
    assert "pgwarden branches create" in (err.diag.message_hint or "")
    assert not database_exists(cluster, "regress_copy")


def test_create_database_from_unprotected_branch_registers_child(
        cluster: Cluster, project: Project, admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster)
    with cluster.connect() as conn:  # from another database than the control database
        conn.execute("CREATE DATABASE regress_copy TEMPLATE regress_main")
    row = admin.execute("SELECT parent, state FROM pgwarden.branches WHERE name = 'regress_copy'").fetchone()
    assert row == ("regress_main", "unregistered")
    admin.execute("SELECT pgwarden.sync_branches()")
    row = admin.execute("SELECT parent, state, strategy, endpoints, parent_lsn IS NOT NULL"
                        " FROM pgwarden.branches WHERE name = 'regress_copy'").fetchone()
    assert row == ("regress_main", "ready", "create_database", ["regress_copy"], True)
    # A database made from a plain template is not a branch.
    admin.execute("CREATE DATABASE regress_plain")
    admin.execute("SELECT pgwarden.sync_branches()")
    assert admin.execute("SELECT count(*) FROM pgwarden.branches WHERE name = 'regress_plain'").fetchone() == (0,)


# -- protections through the helpers -----------------------------------------------

def test_helpers_refuse_delete_and_reset_of_protected_branch(cluster: Cluster, project: Project,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    make_parent(cluster, protected=True)
    project.create_branch("regress_child", "regress_main", strategy="template")
    project.protect("regress_child")
    for call in (lambda: project.delete_branch("regress_child"),
                 lambda: project.reset_branch("regress_child"),
                 lambda: project.delete_branch("regress_main")):
        with pytest.raises(psycopg.Error) as info:
            call()
        assert info.value.diag.sqlstate == PW001
    dsn = cluster.local_dsn(CONTROL_DB)
    assert cli.main(["branches", "delete", "regress_child", "--dsn", dsn, "--yes"]) == 3
    assert cli.main(["branches", "reset", "regress_child", "--dsn", dsn, "--yes"]) == 3
    assert cli.main(["project", "delete", "--yes", "--dsn", dsn]) == 3
    err = capsys.readouterr().err
    assert "PW001" in err and "unprotect_branch" in err
    assert database_exists(cluster, "regress_child") and database_exists(cluster, "regress_main")
    b = project.branch("regress_child")
    assert b.state == "ready" and b.protected


# -- creating branches -------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["template", "online"])
def test_child_carries_grants_settings_and_contents(cluster: Cluster, project: Project,
                                                    strategy: str) -> None:
    make_parent(cluster, reader="regress_reader")
    with cluster.connect() as conn:
        conn.execute("REVOKE ALL ON DATABASE regress_main FROM PUBLIC")
        conn.execute("GRANT TEMPORARY ON DATABASE regress_main TO regress_reader WITH GRANT OPTION")
        conn.execute("""ALTER DATABASE regress_main SET search_path = "$user", public, "my schema" """)
        conn.execute("ALTER DATABASE regress_main SET work_mem = '8MB'")
        conn.execute("ALTER ROLE regress_reader IN DATABASE regress_main SET statement_timeout = '5s'")
        conn.execute("COMMENT ON DATABASE regress_main IS 'the parent'")
    created = project.create_branch("regress_child", "regress_main", strategy=strategy, jobs=2)
    assert created.strategy == strategy
    assert created.credentials == ()  # unprotected parent: roles are shared
    b = created.branch
    assert (b.parent, b.database, b.strategy, b.endpoints) == (
        "regress_main", "regress_child", strategy, ("regress_child",))
    assert b.parent_lsn is not None
    meta = ("SELECT d.datacl::text[], pg_get_userbyid(d.datdba), shobj_description(d.oid, 'pg_database'),"
            " (SELECT array_agg(pg_get_userbyid(s.setrole) || ':' || array_to_string(s.setconfig, ';')"
            "   ORDER BY s.setrole) FROM pg_db_role_setting s WHERE s.setdatabase = d.oid)"
            " FROM pg_database d WHERE datname = %s")
    with cluster.connect() as conn:
        parent_meta = conn.execute(meta, ["regress_main"]).fetchone()
        child_meta = conn.execute(meta, ["regress_child"]).fetchone()
    assert child_meta == parent_meta
    with cluster.connect("regress_main") as p, cluster.connect("regress_child") as c:
        assert checksum(c) == checksum(p)
        assert c.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'items'").fetchone() == ("regress_app",)


def test_template_strategy_never_disconnects_the_parent(cluster: Cluster, project: Project) -> None:
    make_parent(cluster)
    with cluster.connect("regress_main") as busy:
        with pytest.raises(psycopg.errors.ObjectInUse):
            project.create_branch("regress_child", "regress_main", strategy="template")
        created = project.create_branch("regress_child", "regress_main", strategy="auto")
        assert created.strategy == "online"
        assert busy.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("rows, jobs", [
    (20000, 2),
    pytest.param(1_000_000, 4, marks=pytest.mark.slow, id="large"),
])
def test_online_branch_while_workload_writes_is_snapshot_consistent(
        cluster: Cluster, project: Project, rows: int, jobs: int) -> None:
    make_parent(cluster, rows=rows)
    stop = threading.Event()
    errors: list[BaseException] = []
    writes = [0]

    def workload() -> None:
        try:
            with cluster.connect("regress_main") as conn:
                while not stop.is_set():
                    with conn.transaction():
                        i = writes[0]
                        conn.execute("UPDATE items SET v = md5(v) WHERE id %% 97 = %s", [i % 97])
                        conn.execute("INSERT INTO items VALUES (%s, 'w')", [-1 - i])
                        conn.execute("DELETE FROM items WHERE id = %s", [1 + i])
                    writes[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    at_snapshot: list[str] = []

    def on_snapshot(snapshot: str) -> None:
        with cluster.connect("regress_main") as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            at_snapshot.append(checksum(conn))
            conn.execute("ROLLBACK")
        time.sleep(0.3)  # let the workload write on while the copy runs

    t = threading.Thread(target=workload)
    t.start()
    try:
        while writes[0] < 20:
            time.sleep(0.01)
        before = writes[0]
        created = project.create_branch("regress_child", "regress_main", strategy="auto",
                                        jobs=jobs, on_snapshot=on_snapshot)
        during = writes[0] - before
    finally:
        stop.set()
        t.join()
    assert not errors, f"the workload on the parent failed: {errors[0]!r}"
    assert created.strategy == "online"
    assert during > 0, "the parent received no writes during the copy"
    with cluster.connect("regress_child") as c, cluster.connect("regress_main") as p:
        child_sum = checksum(c)
        assert child_sum == at_snapshot[0]
        assert checksum(p) != child_sum  # the parent moved on after the snapshot


def test_progress_is_reported_for_online_copies(cluster: Cluster, project: Project) -> None:
    make_parent(cluster)
    seen: list[tuple[str, int, int]] = []
    project.create_branch("regress_child", "regress_main", strategy="online",
                          progress=lambda phase, done, total: seen.append((phase, done, total)))
    phases = {p for p, _, _ in seen}
    assert phases == {"dump", "restore"}
    last_restore = [s for s in seen if s[0] == "restore"][-1]
    assert last_restore[1] == last_restore[2] > 0


# -- branch credentials ------------------------------------------------------------

def true_bits(password: str) -> float:
    import math
    body = password.removeprefix("pgw_")
    assert set(body) <= set(string.ascii_letters + string.digits)
    return len(body) * math.log2(62)


def test_child_of_protected_branch_gets_its_own_credentials(
        cluster: Cluster, project: Project, admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster, protected=True, reader="regress_reader")
    with cluster.connect("regress_main") as conn:
        conn.execute("CREATE ROLE regress_owner_only LOGIN PASSWORD 'pgw_Zx8Kq3mW7vNp2RtL5yB9'")
        conn.execute("CREATE TABLE owned (x int)")
        conn.execute("ALTER TABLE owned OWNER TO regress_owner_only")
        conn.execute("CREATE ROLE regress_group NOLOGIN")
        conn.execute("GRANT SELECT ON items TO regress_group")
    created = project.create_branch("regress_child", "regress_main", strategy="template")
    creds = {c.parent_role: c for c in created.credentials}
    # Owners and grantees via pg_shdepend and CONNECT grantees; no superuser, no NOLOGIN role.
    assert set(creds) == {"regress_app", "regress_reader", "regress_owner_only"}
    for c in created.credentials:
        assert c.role == f"{c.parent_role}@regress_child"
        bits = true_bits(c.password)
        if bits < 72:
            raise AssertionError(f"a generated password carries {bits:.0f} bits, fewer than 72")
        assert_not_in(c.password, repr(c), "the repr of a credential")
        assert_not_logged(cluster, c.password, "a branch role's password")
        # stored as a SCRAM secret, never sent as SQL text
        assert admin.execute("SELECT rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid"
                             " WHERE rolname = %s", [c.role]).fetchone() == (True,)
    roles = project.branch_roles("regress_child")
    assert {r.role for r in roles} == {c.role for c in created.credentials}
    # The branch role acts with the parent role's privileges inside the child.
    app = creds["regress_app"]
    with psycopg.connect(cluster.tcp_dsn(app.role, app.password, dbname="regress_child"),
                         autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (1000,)
        conn.execute("INSERT INTO items VALUES (-1, 'child only')")
        conn.execute("ALTER TABLE items ADD COLUMN extra int")  # owner's rights via membership
    assert "sslmode=verify-full" in app.uri and "sslrootcert=" in app.uri
    with psycopg.connect(app.uri, autocommit=True) as conn:  # the URI works as printed (TLS)
        assert conn.info.dbname == "regress_child"
    with cluster.connect("regress_main") as conn:
        assert conn.execute("SELECT count(*) FROM items WHERE id = -1").fetchone() == (0,)
    # The cluster-level labels bind the role to the child's database.
    row = admin.execute("SELECT l.label FROM pg_shseclabel l JOIN pg_roles r ON r.oid = l.objoid"
                        " WHERE r.rolname = %s", [app.role]).fetchone()
    child_oid = admin.execute("SELECT oid FROM pg_database WHERE datname = 'regress_child'").fetchone()
    assert row is not None and child_oid is not None and row[0] == f"branch-role:{child_oid[0]}"


BRANCH_ROLE_REFUSED = [
    "ALTER ROLE regress_app PASSWORD 'pgw_Ab3dEf6hJk9mNp2qRs5t'",
    "SET ROLE regress_app; ALTER ROLE regress_app PASSWORD 'pgw_Ab3dEf6hJk9mNp2qRs5t'",
    "SET ROLE regress_app; ALTER ROLE CURRENT_USER VALID UNTIL 'infinity'",
    "ALTER DATABASE regress_main SET work_mem = '1MB'",
    "ALTER DATABASE regress_main RENAME TO regress_stolen",
    "SET ROLE regress_app; ALTER DATABASE regress_main OWNER TO regress_app",
    "GRANT CONNECT ON DATABASE regress_main TO PUBLIC",
    "DROP OWNED BY regress_app",
    "REASSIGN OWNED BY regress_app TO CURRENT_USER",
    "COMMENT ON ROLE regress_app IS 'x'",
]


def test_branch_role_cannot_reach_parent_through_cluster_statements(
        cluster: Cluster, project: Project) -> None:
    make_parent(cluster, protected=True)
    created = project.create_branch("regress_child", "regress_main", strategy="template")
    (app,) = created.credentials
    dsn = cluster.tcp_dsn(app.role, app.password, dbname="regress_child")
    for stmt in BRANCH_ROLE_REFUSED:
        with psycopg.connect(dsn, autocommit=True) as conn:
            with pytest.raises(psycopg.Error) as info:
                for part in stmt.split("; "):
                    conn.execute(part)
            if stmt.startswith("SET ROLE"):
                # a branch role is a member of no role: PostgreSQL refuses
                assert info.value.diag.sqlstate == "42501", stmt
                continue
            assert info.value.diag.sqlstate == PW002, (stmt, info.value.diag.message_primary)
            assert "branch role" in (info.value.diag.message_primary or "")
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Its own password and its own database stay manageable.
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            q(app.role), sql.Literal("pgw_Nq4Wm8Zx2Kc6Vb9Lp3Tr")))
        conn.execute("ALTER DATABASE regress_child SET work_mem = '2MB'")
    # The parent role's password still works, the parent is untouched.
    with psycopg.connect(cluster.tcp_dsn("regress_app", APP_PASSWORD, dbname="regress_main")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert database_exists(cluster, "regress_main")


def test_reset_keeps_name_endpoints_and_credentials(cluster: Cluster, project: Project,
                                                    admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster, protected=True)
    created = project.create_branch("regress_child", "regress_main", strategy="template")
    (app,) = created.credentials
    project.create_endpoint("regress_child", "regress_child_ro", "read_only", 3)
    child_dsn = cluster.tcp_dsn(app.role, app.password, dbname="regress_child")
    with psycopg.connect(child_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO items VALUES (-1, 'to be reset away')")
    with cluster.connect("regress_main") as conn:
        conn.execute("SET ROLE regress_app")
        conn.execute("INSERT INTO items VALUES (5000, 'new in parent')")
    victim = psycopg.connect(child_dsn, autocommit=True)
    with cluster.connect("regress_main") as parent_session:
        b = project.reset_branch("regress_child")
        assert parent_session.execute("SELECT 1").fetchone() == (1,)  # the parent's never closed
    with pytest.raises(psycopg.OperationalError):
        victim.execute("SELECT 1")
    victim.close()
    assert (b.name, b.database, b.parent) == ("regress_child", "regress_child", "regress_main")
    assert set(b.endpoints) == {"regress_child", "regress_child_ro"}
    with psycopg.connect(child_dsn, autocommit=True) as conn:  # same credentials
        assert conn.execute("SELECT count(*) FROM items WHERE id = -1").fetchone() == (0,)
        assert conn.execute("SELECT v FROM items WHERE id = 5000").fetchone() == ("new in parent",)
    assert [r.role for r in project.branch_roles("regress_child")] == [app.role]
    with pytest.raises(psycopg.Error) as info:  # a protected parent can't be reset
        project.reset_branch("regress_main")
    assert info.value.diag.sqlstate in (PW001, "55000")


def test_delete_drops_database_endpoints_and_branch_roles(cluster: Cluster, project: Project,
                                                          admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster, protected=True)
    created = project.create_branch("regress_child", "regress_main", strategy="template")
    project.create_endpoint("regress_child", "regress_child_ro", "read_only")
    project.delete_branch("regress_child")
    assert not database_exists(cluster, "regress_child")
    assert admin.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s",
                         [created.credentials[0].role]).fetchone() == (0,)
    assert admin.execute("SELECT count(*) FROM pgwarden.endpoints WHERE branch = 'regress_child'").fetchone() == (0,)


# -- names that need quoting ---------------------------------------------------------

@pytest.mark.parametrize("strategy", ["template", "online"])
def test_names_needing_quotes(cluster: Cluster, project: Project, strategy: str) -> None:
    parent = 'regress main "q" \'s\' ü'
    owner = 'regress_o\'neil "x" é'
    child = 'regress child ☃ "c"'
    make_parent(cluster, parent, owner=owner, protected=True)
    created = project.create_branch(child, parent, strategy=strategy)
    (cred,) = created.credentials
    assert cred.role == f"{owner}@{child}"
    assert len(cred.role.encode()) <= 63
    with psycopg.connect(cluster.tcp_dsn(cred.role, cred.password, dbname=child),
                         autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (1000,)
    project.create_endpoint(child, "regress ep ü", "read_write")
    assert {e.name for e in project.endpoints(child)} == {child, "regress ep ü"}
    project.delete_branch(child)
    assert not database_exists(cluster, child)


def test_long_names_get_a_short_role_name(cluster: Cluster, project: Project) -> None:
    owner = "regress_" + "o" * 50
    make_parent(cluster, "regress_main", owner=owner, protected=True)
    child = "regress_" + "c" * 50
    (cred,) = project.create_branch(child, "regress_main", strategy="template").credentials
    assert len(cred.role.encode()) <= 63 and cred.role.startswith("regress_o")
    with psycopg.connect(cluster.tcp_dsn(cred.role, cred.password, dbname=child)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (cred.role,)


# -- the CLI ------------------------------------------------------------------------

def test_cli_branches_endpoints_roles(cluster: Cluster, project: Project,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    make_parent(cluster)
    dsn = cluster.local_dsn(CONTROL_DB)
    assert cli.main(["branches", "protect", "regress_main", "--dsn", dsn, "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["protected"] is True
    assert cli.main(["branches", "create", "regress_child", "--parent", "regress_main",
                     "--strategy", "online", "--jobs", "2", "--dsn", dsn, "--output", "json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["strategy"] == "online" and out["branch"]["parent"] == "regress_main"
    (cred,) = out["credentials"]
    assert cred["role"] == "regress_app@regress_child" and cred["uri"].startswith("postgresql://")
    assert "restore:" in captured.err  # progress
    assert cli.main(["roles", "list", "--branch", "regress_child", "--dsn", dsn]) == 0
    listing = capsys.readouterr().out
    assert "regress_app@regress_child" in listing
    assert_not_in(cred["password"], listing, "pgwarden roles list")
    assert cli.main(["endpoints", "create", "regress_child", "regress_ro", "--kind", "read_only",
                     "--max-connections", "2", "--dsn", dsn]) == 0
    assert cli.main(["endpoints", "suspend", "regress_ro", "--dsn", dsn, "--output", "json"]) == 0
    capsys.readouterr()
    assert cli.main(["endpoints", "list", "--branch", "regress_child", "--dsn", dsn,
                     "--output", "json"]) == 0
    eps = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert eps["regress_ro"]["suspended"] is True and eps["regress_ro"]["max_connections"] == 2
    assert eps["regress_child"]["is_default"] is True
    assert cli.main(["endpoints", "set-limit", "regress_ro", "none", "--dsn", dsn]) == 0
    assert cli.main(["endpoints", "delete", "regress_ro", "--dsn", dsn]) == 0
    assert cli.main(["branches", "list", "--dsn", dsn]) == 0
    table = capsys.readouterr().out
    assert "regress_child" in table and "regress_main" in table
    assert cli.main(["branches", "get", "regress_nope", "--dsn", dsn]) != 0
    assert cli.main(["branches", "delete", "regress_child", "--dsn", dsn, "--yes"]) == 0
    assert cli.main(["project", "delete", "--dsn", dsn]) == 3  # refused: a branch is protected
    assert "PW001" in capsys.readouterr().err


# -- project delete (own cluster: it drops the extension) ---------------------------

def test_project_delete_drops_every_branch_and_the_extension(
        private_cluster: ClusterFactory) -> None:
    c = private_cluster()
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl")
        conn.execute("CREATE DATABASE regress_root")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        conn.execute("SELECT pgwarden.register_branch('regress_root')")
        conn.execute("SELECT pgwarden.protect_branch('regress_root')")
    p = Project(c.local_dsn("regress_ctl"))
    p.create_branch("regress_a", "regress_root", strategy="template")
    p.create_branch("regress_b", "regress_a", strategy="online")
    with pytest.raises(psycopg.Error):
        p.delete_project()
    p.unprotect("regress_root")
    # The registered root is kept (test_lifecycle_branches.py has the rule).
    assert [(d.branch, d.drop) for d in p.delete_project()] == [
        ("regress_b", True), ("regress_a", True), ("regress_root", False)]
    with c.connect() as conn:
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert not dbs & {"regress_a", "regress_b"} and "regress_root" in dbs
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE '%@%'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_shseclabel WHERE provider = 'pgwarden'").fetchone() == (0,)
    with c.connect("regress_ctl") as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pgwarden'").fetchone() == (0,)
        # Dropping the schema takes the extension along and clears the labels too.
        conn.execute("CREATE EXTENSION pgwarden")
        conn.execute("CREATE DATABASE regress_again")
        conn.execute("SELECT pgwarden.register_branch('regress_again')")
        conn.execute("DROP SCHEMA pgwarden CASCADE")
        assert conn.execute("SELECT count(*) FROM pg_shseclabel WHERE provider = 'pgwarden'").fetchone() == (0,)
        conn.execute("DROP DATABASE regress_again")


def test_branch_database_name_can_differ(cluster: Cluster, project: Project,
                                         admin: psycopg.Connection[Any]) -> None:
    make_parent(cluster)
    created = project.create_branch("regress_named", "regress_main", database="regress_named_db",
                                    strategy="template")
    assert (created.branch.name, created.branch.database) == ("regress_named", "regress_named_db")
    assert created.branch.endpoints == ("regress_named",)
    project.protect("regress_named")
    with cluster.connect() as conn:
        assert_protection_error(expect_error(conn, "DROP DATABASE regress_named_db", PW001),
                                "regress_named")
    project.unprotect("regress_named")
    project.delete_branch("regress_named")
    assert not database_exists(cluster, "regress_named_db")


def test_only_superusers_get_branch_roles_made(cluster: Cluster, project: Project,
                                               admin: psycopg.Connection[Any]) -> None:
    """A pgwarden_admin member cannot point new branch roles at any database."""
    make_parent(cluster, protected=True)
    admin.execute("CREATE ROLE regress_padmin LOGIN CREATEDB IN ROLE pgwarden_admin")
    admin.execute("CREATE DATABASE regress_elsewhere")
    with cluster.connect(CONTROL_DB, user="regress_padmin") as conn:
        expect_error(conn, "SELECT * FROM pgwarden._finish_create('regress_x', 'regress_main',"
                           " 'regress_elsewhere', NULL, 'template')", "42501")
    assert admin.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE '%@regress_x'").fetchone() == (0,)
