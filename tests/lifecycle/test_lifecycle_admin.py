"""A pgwarden_admin member (not a superuser) uses every allowlist and branch
action, from the command line and from Python, exactly as the README shows them."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden import allowlist
from pgwarden.branches import Project
from pgwarden.cli import main
from pgwarden.sandbox import Cluster
from support import CONTROL_DB

MEMBER = "regress_member"
APP_PASSWORD = "pgw_Mq7vR2xL9pTw4KsZ8nB3"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def member(cluster: Cluster, admin: psycopg.Connection[Any]) -> Iterator[str]:
    """A login role that is a member of pgwarden_admin; its DSN over the Unix socket."""
    allowlist.reset(admin, force=True)
    allowlist.set_protected_only(admin, False)
    admin.execute(f"CREATE ROLE {MEMBER} LOGIN IN ROLE pgwarden_admin")
    yield cluster.local_dsn(CONTROL_DB, user=MEMBER)
    allowlist.reset(admin, force=True)
    allowlist.set_protected_only(admin, False)
    allowlist.wait_published(admin)


def test_member_runs_every_ip_allow_action(member: str, admin: psycopg.Connection[Any]) -> None:
    code, out, err = run_cli("ip-allow", "add", "203.0.113.7", "198.51.100.20-198.51.100.50",
                             "--dsn", member, "--output", "json")
    assert (code, err) == (0, ""), err
    data = json.loads(out)
    assert data["protected_only"] is False
    assert [e["entry"] for e in data["entries"]] == ["198.51.100.20-198.51.100.50", "203.0.113.7"]
    assert {e["created_by"] for e in data["entries"]} == {MEMBER}

    code, out, err = run_cli("ip-allow", "add", "10.0.0.0/8", "--role", MEMBER,
                             "--comment", "office VPN", "--dsn", member)
    assert (code, err) == (0, "") and out.splitlines()[-1] == "protected only: no"
    code, out, err = run_cli("ip-allow", "scope", "--protected-only", "true", "--dsn", member,
                             "--output", "json")
    assert (code, err) == (0, "") and json.loads(out)["protected_only"] is True
    code, out, err = run_cli("ip-allow", "check", "203.0.113.7", "--role", "app",
                             "--database", "shop", "--dsn", member)
    assert (code, err) == (0, ""), err
    assert out.startswith('allow: database "shop" is not a protected branch')
    code, out, err = run_cli("ip-allow", "remove", "203.0.113.7", "--dsn", member)
    assert (code, err) == (0, "") and "203.0.113.7 " not in out
    code, out, err = run_cli("ip-allow", "reset", "--protected-only", "false", "--dsn", member,
                             "--yes")
    assert (code, err) == (0, ""), err
    assert out.splitlines()[-1] == "protected only: no (empty allowlist: no address is restricted)"
    assert allowlist.list_entries(admin) == []


def test_member_uses_the_python_allowlist_helpers(member: str) -> None:
    with psycopg.connect(member, autocommit=True) as conn:
        assert allowlist.add(conn, ["203.0.113.7", "192.0.2.0/24"], comment="office") == 2
        assert allowlist.protected_only(conn) is False
        assert allowlist.set_protected_only(conn, True) is True
        assert allowlist.protected_only(conn) is True
        status = allowlist.wait_published(conn)
        assert status.state == "loaded"
        assert [e.entry for e in allowlist.list_entries(conn)] == ["192.0.2.0/24", "203.0.113.7"]
        assert allowlist.check_connection(conn, "203.0.113.7", "app", "shop").startswith("allow:")
        assert allowlist.remove(conn, ["203.0.113.7"]) == 1
        with conn.transaction():
            allowlist.set_protected_only(conn, False)
            assert allowlist.protected_only(conn) is False
        assert allowlist.reset(conn) == 1
        assert allowlist.policy_status(conn).state == "loaded"


def test_scope_view_is_for_admins_only(cluster: Cluster, admin: psycopg.Connection[Any]) -> None:
    admin.execute("CREATE ROLE regress_nobody LOGIN")
    with (psycopg.connect(cluster.local_dsn(CONTROL_DB, user="regress_nobody"),
                          autocommit=True) as conn,
          pytest.raises(psycopg.errors.InsufficientPrivilege)):
        allowlist.protected_only(conn)


@pytest.fixture
def branch_member(cluster: Cluster, admin: psycopg.Connection[Any]) -> Iterator[str]:
    """A pgwarden_admin member with CREATEDB (what creating a branch takes), and
    a database of another role to register."""
    with cluster.connect() as conn:
        conn.execute(f"CREATE ROLE regress_m_app LOGIN PASSWORD '{APP_PASSWORD}'")
        conn.execute(f"CREATE ROLE {MEMBER} LOGIN CREATEDB IN ROLE pgwarden_admin")
        conn.execute("CREATE DATABASE regress_m_shop OWNER regress_m_app")
    with cluster.connect("regress_m_shop") as conn:
        conn.execute("SET ROLE regress_m_app")
        conn.execute("CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 10) g")
    yield cluster.local_dsn(CONTROL_DB, user=MEMBER)
    project = Project(cluster.local_dsn(CONTROL_DB))
    for b in project.branches():
        if b.name.startswith("regress_m_") and b.protected:
            project.unprotect(b.name)
    with cluster.connect() as conn:
        for (db,) in conn.execute("SELECT datname FROM pg_database"
                                  " WHERE datname LIKE 'regress\\_m\\_%'").fetchall():
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))


def test_member_runs_every_branch_action(cluster: Cluster, branch_member: str) -> None:
    def ok(*argv: str) -> Any:
        code, out, err = run_cli(*argv, "--dsn", branch_member, "-o", "json")
        assert code == 0 and "error" not in err, (argv, err)   # progress lines are fine
        return json.loads(out)

    assert ok("branches", "register", "regress_m_shop")["name"] == "regress_m_shop"
    assert ok("branches", "protect", "regress_m_shop")["protected"] is True
    # branching a protected branch makes roles with the parent roles'
    # privileges: superusers only, refused before anything is made
    code, _, err = run_cli("branches", "create", "regress_m_dev", "--parent", "regress_m_shop",
                           "--dsn", branch_member)
    assert code == 3 and "42501" in err and "superuser" in err, err
    assert ok("branches", "unprotect", "regress_m_shop")["protected"] is False
    # a copy is owned by the parent's owner: CREATEDB and membership in it
    code, _, err = run_cli("branches", "create", "regress_m_dev", "--parent", "regress_m_shop",
                           "--dsn", branch_member)
    assert code == 3, err
    assert err.splitlines() == [
        ('pgwarden: error: 42501: copying branch "regress_m_shop" makes a database owned by its'
         ' owner "regress_m_app": role "regress_member" needs membership in role "regress_m_app"'),
        "HINT: Connect as a superuser, or have one run: GRANT regress_m_app TO regress_member;"]
    with cluster.connect() as conn:
        assert conn.execute(r"SELECT count(*) FROM pg_database WHERE datname LIKE 'pgw\_%'"
                            ).fetchone() == (0,)
        conn.execute(f"GRANT regress_m_app TO {MEMBER}")
    created = ok("branches", "create", "regress_m_dev", "--parent", "regress_m_shop")
    assert created["branch"]["parent"] == "regress_m_shop"
    assert ok("branches", "get", "regress_m_dev")["state"] == "ready"
    assert "regress_m_dev" in [b["name"] for b in ok("branches", "list")]
    ok("branches", "carry-privileges", "regress_m_dev")
    ok("endpoints", "create", "regress_m_dev", "regress_m_dev_ro", "--kind", "read_only",
       "--max-connections", "5")
    assert "regress_m_dev_ro" in [e["name"] for e in ok("endpoints", "list", "--branch",
                                                       "regress_m_dev")]
    assert ok("endpoints", "suspend", "regress_m_dev_ro")["suspended"] is True
    assert ok("endpoints", "resume", "regress_m_dev_ro")["suspended"] is False
    assert ok("endpoints", "set-limit", "regress_m_dev_ro", "none")["max_connections"] is None
    ok("roles", "list", "--branch", "regress_m_dev")
    assert "regress_m_dev" in ok("connection-string", "regress_m_dev", "--role",
                                 "regress_m_app", "--host", "db.example.com",
                                 "--sslrootcert", str(cluster.ca_cert))["uri"]
    ok("branches", "reset", "regress_m_dev", "--yes")
    ok("endpoints", "delete", "regress_m_dev_ro")
    ok("branches", "delete", "regress_m_dev", "--yes")
    ok("branches", "recover")
    ok("audit", "list", "--limit", "1")
    ok("status")
    assert ok("install", "--check")["created"]
    assert ok("password", "generate")["password"].startswith("pgw_")
    # project delete ends with DROP EXTENSION: refused, nothing dropped
    code, _, err = run_cli("project", "delete", "--yes", "--dsn", branch_member)
    assert code == 3 and "42501: deleting the project requires a superuser" in err, err
    with cluster.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'regress_m_shop'"
                            ).fetchone() == (1,)
