"""Upgrades: ALTER EXTENSION pgwarden UPDATE from the released 0.1.0 script.

The update keeps the policy and the branches, the catalogs afterwards equal
those of a fresh install (compared generically: whatever every part of the
upgrade script creates), and the shared library serves the 0.1.0 SQL until
the update runs.
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
import pytest

from pgwarden import allowlist
from pgwarden.branches import Project
from pgwarden.sandbox import Cluster
from support import ROOT
from support.catalog import differences, extension_catalog
from support.clusters import ClusterFactory
from support.proxy import Proxy

RELEASED = "0.1.0"
APP_PASSWORD = "pgw_Vb4nQ8rT2mLx7KcZ9sWd"


def current_version() -> str:
    m = re.search(r"default_version\s*=\s*'([^']+)'", (ROOT / "pgwarden.control").read_text())
    assert m is not None
    return m.group(1)


@pytest.fixture
def server(private_cluster: ClusterFactory) -> Cluster:
    c = private_cluster()
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl")
    return c


def refused(c: Cluster, source: str, dbname: str) -> str | None:
    """The FATAL message when app connects from source over TLS, else None."""
    with Proxy(c.port, source) as p:
        dsn = psycopg.conninfo.make_conninfo(c.tcp_dsn("regress_app", APP_PASSWORD,
                                                       dbname=dbname), port=p.port)
        try:
            with psycopg.connect(dsn):
                return None
        except psycopg.OperationalError as exc:
            return str(exc)


def fill_with_released_api(c: Cluster, conn: psycopg.Connection[Any]) -> list[Any]:
    """Policy and branches made with the 0.1.0 functions only (as its helper did)."""
    with c.connect() as pg:
        pg.execute(f"CREATE ROLE regress_app LOGIN PASSWORD '{APP_PASSWORD}'")
        pg.execute("CREATE DATABASE regress_shop OWNER regress_app")
        pg.execute("CREATE DATABASE regress_plain")
    with c.connect("regress_shop") as shop:
        shop.execute("SET ROLE regress_app")
        shop.execute("CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 10) g")
    conn.execute("SELECT pgwarden.ip_allow_add(ARRAY['127.0.0.1', '203.0.113.0/24'],"
                 " comment => 'kept')")
    conn.execute("SELECT pgwarden.ip_allow_add(ARRAY['127.0.0.3'], role => 'regress_app')")
    conn.execute("SELECT pgwarden.ip_allow_protected_only(true)")
    conn.execute("SELECT pgwarden.register_branch('regress_shop')")
    conn.execute("SELECT pgwarden.protect_branch('regress_shop')")
    conn.execute("SELECT pgwarden.create_endpoint('regress_shop', 'regress_shop_ro', 'read_only',"
                 " max_connections => 3)")
    # A child with its own credentials, the way the 0.1.0 helper made one.
    conn.execute("SELECT pgwarden._arm_template_copy('regress_shop')")
    conn.execute("CREATE DATABASE regress_dev TEMPLATE regress_shop OWNER regress_app")
    creds = conn.execute("SELECT * FROM pgwarden._finish_create('regress_dev', 'regress_shop',"
                         " 'regress_dev', NULL, 'template')").fetchall()
    assert len(creds) == 1
    return creds[0]


def state(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """The policy and the branches as a user sees them."""
    return {
        "allowlist": conn.execute(
            "SELECT entry, role, kind, comment FROM pgwarden.ip_allowlist").fetchall(),
        "scope": conn.execute("SELECT value FROM pgwarden.gate_settings").fetchall(),
        "branches": conn.execute(
            "SELECT name, database, parent, protected, strategy, endpoints, state"
            " FROM pgwarden.branches ORDER BY name").fetchall(),
        "endpoints": conn.execute(
            "SELECT name, branch, kind, max_connections, suspended, is_default"
            " FROM pgwarden.endpoints ORDER BY name").fetchall(),
        "branch_roles": conn.execute(
            "SELECT role, branch, parent_role FROM pgwarden.branch_roles").fetchall(),
        "labels": conn.execute(
            "SELECT d.datname, l.provider, l.label FROM pg_shseclabel l"
            " JOIN pg_database d ON d.oid = l.objoid ORDER BY 1, 2").fetchall(),
    }


def assert_enforced(c: Cluster, role: str, password: str) -> None:
    """The whole policy is in force: allowlist, protection, branch-role binding."""
    assert "address not allowed" in (refused(c, "127.0.0.2", "regress_shop") or "")
    assert refused(c, "127.0.0.2", "regress_plain") is None   # protected branches only
    assert refused(c, "127.0.0.3", "regress_shop") is None    # the role's own entry
    with c.connect() as pg:
        with pytest.raises(psycopg.Error) as info:
            pg.execute("DROP DATABASE regress_shop")
        assert info.value.diag.sqlstate == "PW001"
    child = c.tcp_dsn(role, password, dbname="regress_dev")
    with psycopg.connect(child) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (10,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(c.tcp_dsn(role, password, dbname="regress_shop")).close()


def test_update_keeps_the_policy_and_branches_and_equals_a_fresh_install(
        server: Cluster) -> None:
    c = server
    with c.connect("regress_ctl") as conn:
        conn.execute(f"CREATE EXTENSION pgwarden VERSION '{RELEASED}'")
        role, password, _ = fill_with_released_api(c, conn)
        allowlist.wait_published(conn)
        # The new library serves the released SQL.
        assert_enforced(c, role, password)
        before = state(conn)

        conn.execute("ALTER EXTENSION pgwarden UPDATE")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgwarden'"
                            ).fetchone() == (current_version(),)
        assert state(conn) == before
        # 0.1.0 branch roles were members of their parent roles; the update
        # revokes that and the documented step carries the privileges over.
        assert Project(c.local_dsn("regress_ctl")).carry_privileges("regress_dev") > 0
        allowlist.wait_published(conn)
        assert_enforced(c, role, password)
        # and takes policy changes
        allowlist.add(conn, ["127.0.0.2"])
        allowlist.wait_published(conn)
        assert refused(c, "127.0.0.2", "regress_shop") is None
        updated = extension_catalog(conn)

        # A fresh install of the current version in the same database.
        conn.execute("SELECT pgwarden.unprotect_branch(name) FROM pgwarden.branch")
        conn.execute("DROP EXTENSION pgwarden")
        conn.execute("CREATE EXTENSION pgwarden")
        fresh = extension_catalog(conn)
    assert updated["extension"][0][0] == current_version()
    assert differences(updated, fresh) == []


def test_c_entry_points_keep_their_sql_signature(server: Cluster) -> None:
    """A C function the released script names keeps the arguments and result it had
    there; a changed one needs a new, versioned entry point (pgwarden_x_0_2)."""
    query = ("SELECT p.prosrc, pg_get_function_identity_arguments(p.oid),"
             " pg_get_function_result(p.oid), p.proisstrict, p.proretset"
             "  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
             " WHERE l.lanname = 'c' AND p.pronamespace = 'pgwarden'::regnamespace")
    with server.connect("regress_ctl") as conn:
        conn.execute(f"CREATE EXTENSION pgwarden VERSION '{RELEASED}'")
        old = {r[0]: r[1:] for r in conn.execute(query)}
        conn.execute("ALTER EXTENSION pgwarden UPDATE")
        new = {r[0]: r[1:] for r in conn.execute(query)}
    released = set(re.findall(r"'MODULE_PATHNAME',\s*'(\w+)'",
                              (ROOT / "sql" / f"pgwarden--{RELEASED}.sql").read_text()))
    assert released == set(old)     # every one of them was found in the library
    changed = {sym: (old[sym], new[sym]) for sym in old if sym in new and old[sym] != new[sym]}
    assert changed == {}


def test_drop_and_create_again_enforces_the_new_policy(server: Cluster) -> None:
    """DROP EXTENSION and an immediate CREATE EXTENSION: the policy worker must
    not mistake the new install for the dropped one (it used to clear the new
    control label and leave every address allowed)."""
    c = server
    with c.connect() as pg:
        pg.execute(f"CREATE ROLE regress_app LOGIN PASSWORD '{APP_PASSWORD}'")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        allowlist.wait_published(conn)
        for _ in range(3):
            conn.execute("DROP EXTENSION pgwarden")
            conn.execute("CREATE EXTENSION pgwarden")
            allowlist.add(conn, ["203.0.113.7"])
            status = allowlist.wait_published(conn, timeout=5)
            assert status.control_database == "regress_ctl"
            assert "address not allowed" in (refused(c, "127.0.0.2", "postgres") or "")
        # A rolled-back DROP keeps the control database marked.
        conn.execute("BEGIN")
        conn.execute("DROP EXTENSION pgwarden")
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT count(*) FROM pg_shseclabel WHERE provider = 'pgwarden_control'"
                            ).fetchone() == (1,)


def test_a_new_install_at_the_old_version_number_is_loaded(server: Cluster) -> None:
    """The loader knew the policy by its version number only: DROP and CREATE
    EXTENSION start the count again, so a new install that reached the
    dropped one's number went on being enforced with the dropped tables."""
    with server.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        allowlist.add(conn, ["203.0.113.7"])
        old = allowlist.wait_published(conn)
        with conn.transaction():
            conn.execute("DROP EXTENSION pgwarden")
            conn.execute("CREATE EXTENSION pgwarden")
            allowlist.add(conn, ["198.51.100.1"])
            while (version := conn.execute("SELECT version FROM pgwarden.policy_version"
                                           ).fetchone()[0]) < old.version:
                allowlist.set_protected_only(conn, False)      # one more change
            assert version == old.version
        # the same number, other tables: wait for the new install to be read
        deadline = time.monotonic() + 10
        while (status := allowlist.policy_status(conn)).loaded_at == old.loaded_at:
            assert time.monotonic() < deadline, "the new install was never loaded"
            time.sleep(0.05)
        # read whole the first time (never an empty or unreadable policy)
        assert status.state == "loaded", status.detail
        assert allowlist.check_connection(conn, "198.51.100.1", "postgres", "postgres"
                                          ).startswith("allow:")
        assert allowlist.check_connection(conn, "203.0.113.7", "postgres", "postgres"
                                          ).startswith("deny:")
