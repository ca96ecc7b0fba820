"""Branches' fixtures and helpers, shared by every feature directory: a parent
database registered as a branch, the project helper that cleans up after
each test, a protected parent's child and its credential, and DSNs and
checks that never show a password."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden.branches import Credential, Project
from pgwarden.sandbox import Cluster
from support import CONTROL_DB
from support.gate import Connector, refusal

APP_PASSWORD = "pgw_Qm7vZ2xK9pLw4RtY8nB3"  # a fixed strong password for the parent's app role


def q(name: str) -> sql.Identifier:
    return sql.Identifier(name)


@pytest.fixture
def project(cluster: Cluster) -> Iterator[Project]:
    """The project helper on the control database; every branch and regress_*
    database made by the test is removed afterwards."""
    yield Project(cluster.local_dsn(CONTROL_DB))
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.unprotect_branch(name) FROM pgwarden.branch WHERE protected")
        conn.execute("SELECT pgwarden.sync_branches()")
        for (name,) in conn.execute(
                "SELECT name FROM pgwarden.branch ORDER BY created_at DESC").fetchall():
            Project(cluster.local_dsn(CONTROL_DB)).delete_branch(name)
        for (db,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'regress%%'"
                " AND datname <> %s", [CONTROL_DB]).fetchall():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(q(db)))


def make_parent(cluster: Cluster, name: str = "regress_main", *, owner: str = "regress_app",
                rows: int = 1000, protected: bool = False, reader: str | None = None) -> None:
    """A database owned by a login role, with a table, registered as a branch."""
    with cluster.connect() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [owner]).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                q(owner), sql.Literal(APP_PASSWORD)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(q(name), q(owner)))
        if reader:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                q(reader), sql.Literal(APP_PASSWORD + "r")))
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(q(name), q(reader)))
    with cluster.connect(name) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(q(owner)))
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, %s) g",
                     [rows])
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.register_branch(%s)", [name])
        if protected:
            conn.execute("SELECT pgwarden.protect_branch(%s)", [name])




# Checks that never show a password: a failed `assert refusal(dsn) is None`
# would print the DSN, password included.
def admitted(dsn: str) -> None:
    msg = refusal(dsn)
    if msg is not None:
        raise AssertionError(f"refused: {msg}")


def refused(dsn: str) -> str:
    msg = refusal(dsn)
    if msg is None:
        raise AssertionError("admitted, expected a refusal")
    return msg


def admitted_from(connect: Connector, *args: str) -> None:
    msg = connect(*args)
    if msg is not None:
        raise AssertionError(f"refused: {msg}")


def refused_from(connect: Connector, *args: str) -> str:
    msg = connect(*args)
    if msg is None:
        raise AssertionError("admitted, expected a refusal")
    return msg


def tcp(cluster: Cluster, user: str, password: str, dbname: str, endpoint: str | None = None,
        **extra: Any) -> str:
    if endpoint is not None:
        extra["options"] = f"-c pgwarden.endpoint={endpoint}"
    return cluster.tcp_dsn(user, password, dbname=dbname, **extra)


def local(cluster: Cluster, dbname: str, endpoint: str | None = None, user: str = "postgres",
          options: str = "") -> str:
    opts = options
    if endpoint is not None:
        opts = f"-c pgwarden.endpoint={endpoint} {options}".strip()
    return psycopg.conninfo.make_conninfo(cluster.local_dsn(dbname, user=user), options=opts or None)


@pytest.fixture
def child(cluster: Cluster, project: Project) -> Iterator[Credential]:
    """regress_child, a branch of the protected regress_main; its credential
    for the parent's owner regress_app."""
    make_parent(cluster, protected=True)
    created = project.create_branch("regress_child", "regress_main", strategy="template")
    (cred,) = created.credentials
    yield cred
