"""A pgwarden_admin member (not a superuser) uses every allowlist action, from
the command line and from Python, exactly as the README shows them."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgwarden import allowlist
from pgwarden.cli import main
from pgwarden.sandbox import Cluster
from support import CONTROL_DB

MEMBER = "regress_member"


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
