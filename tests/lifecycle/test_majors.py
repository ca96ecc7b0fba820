"""What differs between the PostgreSQL majors pgwarden supports (15 to 18).

The whole suite runs on each major (`make test` on 15, `make test-majors` on
16, 17 and 18); these tests cover what only some majors have: the locale
providers of a branched database, and the list of supported majors that the
sources and the documentation state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden.branches import Project
from pgwarden.sandbox import Cluster
from support import ROOT

CONTROL_DB = "regress_control"
SUPPORTED = [15, 16, 17, 18]


def server_major(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def database_locale(conn: psycopg.Connection[Any], db: str) -> tuple[str, str | None]:
    """(provider, provider's locale) of db: daticulocale until 16, datlocale from 17."""
    row = conn.execute(
        "SELECT d.datlocprovider::text, coalesce(to_jsonb(d) ->> 'datlocale',"
        " to_jsonb(d) ->> 'daticulocale') FROM pg_database d WHERE datname = %s", [db]
    ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.fixture
def project(cluster: Cluster) -> Iterator[Project]:
    yield Project(cluster.local_dsn(CONTROL_DB))
    with cluster.connect(CONTROL_DB) as conn:
        for (name,) in conn.execute(
                "SELECT name FROM pgwarden.branch WHERE name LIKE 'regress\\_loc%%'"
                " ORDER BY created_at DESC").fetchall():
            Project(cluster.local_dsn(CONTROL_DB)).delete_branch(name)
        for (db,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'regress\\_loc%%'").fetchall():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(db)))


def branch_online(cluster: Cluster, project: Project, create_options: str) -> None:
    """regress_loc_parent made WITH the options, registered, copied online to regress_loc_child."""
    with cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE regress_loc_parent TEMPLATE template0 ")
                     + sql.SQL(create_options))  # a fixed string of this module
    with cluster.connect("regress_loc_parent") as conn:
        conn.execute("CREATE TABLE words (w text)")
        conn.execute("INSERT INTO words VALUES ('b'), ('A'), ('a'), ('B')")
    project.register_branch("regress_loc_parent")
    created = project.create_branch("regress_loc_child", "regress_loc_parent",
                                    strategy="online")
    assert created.strategy == "online"


def test_online_copy_keeps_an_icu_locale(cluster: Cluster, project: Project) -> None:
    with cluster.connect() as conn:
        row = conn.execute("SELECT count(*) FROM pg_collation WHERE collprovider = 'i'").fetchone()
        if row is None or row[0] == 0:
            pytest.skip("this server was built without ICU")
    branch_online(cluster, project, "LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' LOCALE 'C.UTF-8'")
    with cluster.connect() as conn:
        assert database_locale(conn, "regress_loc_child") == ("i", "de-DE")
        assert database_locale(conn, "regress_loc_child") == database_locale(
            conn, "regress_loc_parent")
    with cluster.connect("regress_loc_child") as conn:
        # ICU orders case-insensitively first, where C would put capitals first.
        assert [r[0] for r in conn.execute("SELECT w FROM words ORDER BY w")] == [
            "a", "A", "b", "B"]


def test_online_copy_keeps_the_builtin_locale(cluster: Cluster, project: Project) -> None:
    with cluster.connect() as conn:
        if server_major(conn) < 17:
            pytest.skip("the builtin locale provider exists from PostgreSQL 17 on")
    branch_online(cluster, project, "LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'"
                                    " LOCALE 'C.UTF-8'")
    with cluster.connect() as conn:
        assert database_locale(conn, "regress_loc_child") == ("b", "C.UTF-8")
    with cluster.connect("regress_loc_child") as conn:
        assert [r[0] for r in conn.execute("SELECT w FROM words ORDER BY w")] == [
            "A", "B", "a", "b"]


def test_online_copy_keeps_a_libc_locale(cluster: Cluster, project: Project) -> None:
    branch_online(cluster, project, "LOCALE_PROVIDER libc LOCALE 'C'")
    with cluster.connect() as conn:
        assert database_locale(conn, "regress_loc_child") == ("c", None)
        row = conn.execute("SELECT datcollate, datctype FROM pg_database"
                           " WHERE datname = 'regress_loc_child'").fetchone()
        assert row == ("C", "C")


def test_the_server_is_a_supported_major(admin: psycopg.Connection[Any]) -> None:
    assert server_major(admin) in SUPPORTED


def test_sources_and_documents_name_the_same_majors() -> None:
    compat = (ROOT / "ext" / "compat.h").read_text()
    low = int(re.search(r"#define PGW_MIN_MAJOR (\d+)", compat).group(1))  # type: ignore[union-attr]
    high = int(re.search(r"#define PGW_MAX_MAJOR (\d+)", compat).group(1))  # type: ignore[union-attr]
    assert list(range(low, high + 1)) == SUPPORTED
    meta = json.loads((ROOT / "META.json").read_text())
    assert meta["prereqs"]["runtime"]["requires"]["PostgreSQL"] == f">= {low}.0.0, < {high + 1}.0.0"
    listed = ", ".join(str(m) for m in SUPPORTED[:-1]) + f" and {SUPPORTED[-1]}"
    control = (ROOT / "pgwarden.control").read_text()
    assert f"# Supported PostgreSQL majors: {listed}" in control
    readme = (ROOT / "README.md").read_text()
    assert f"pgwarden supports PostgreSQL {listed}" in readme

