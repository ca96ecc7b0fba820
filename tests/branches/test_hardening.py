"""Ways around the policy found in review, each closed by the server."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from pgwarden.sandbox import Cluster
from support.clusters import ClusterFactory

SERVER_ROLES = ["pg_execute_server_program", "pg_write_server_files", "pg_read_server_files"]


@pytest.mark.parametrize("server_role", SERVER_ROLES)
def test_createrole_cannot_grant_server_roles(admin: psycopg.Connection[Any], cluster: Cluster,
                                              server_role: str) -> None:
    admin.execute("CREATE ROLE regress_cr LOGIN CREATEROLE")
    with cluster.connect("regress_control", user="regress_cr") as conn:
        for stmt in [f"GRANT {server_role} TO regress_cr",
                     f"CREATE ROLE regress_cr2 IN ROLE {server_role}",
                     f"ALTER GROUP {server_role} ADD USER regress_cr"]:
            with pytest.raises(errors.InsufficientPrivilege) as exc_info:
                conn.execute(stmt)
            assert exc_info.value.diag.message_primary == (
                f'only superusers may grant membership in role "{server_role}"')
        # Ordinary grants still work.
        conn.execute("CREATE ROLE regress_cr3")
        conn.execute("GRANT regress_cr3 TO regress_cr")
    # A superuser still may.
    admin.execute(f"GRANT {server_role} TO regress_cr")


def test_set_role_password_is_not_a_backdoor(admin: psycopg.Connection[Any]) -> None:
    admin.execute("CREATE ROLE regress_sp LOGIN PASSWORD 'pgw_9Xq2LmT7vR4kZp1WcN8y'")
    for target in ["postgres", "regress_sp"]:
        with pytest.raises(errors.InsufficientPrivilege):
            admin.execute("SELECT pgwarden._set_role_password(%s::regrole, 'weak')", [target])


def test_control_database_cannot_be_dropped_while_a_branch_is_protected(
        private_cluster: ClusterFactory) -> None:
    c = private_cluster(tls=False)
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl")
        conn.execute("CREATE DATABASE regress_shop")
    with c.connect("regress_ctl") as ctl:
        ctl.execute("CREATE EXTENSION pgwarden")
        ctl.execute("SELECT pgwarden.register_branch('regress_shop')")
        ctl.execute("SELECT pgwarden.protect_branch('regress_shop')")
    with c.connect() as conn:
        with pytest.raises(psycopg.Error) as exc_info:
            conn.execute("DROP DATABASE regress_ctl WITH (FORCE)")
        assert exc_info.value.diag.sqlstate == "PW001"
        assert "control database" in (exc_info.value.diag.message_primary or "")
    with c.connect("regress_ctl") as ctl:
        ctl.execute("SELECT pgwarden.unprotect_branch('regress_shop')")
    with c.connect() as conn:
        conn.execute("DROP DATABASE regress_ctl WITH (FORCE)")
