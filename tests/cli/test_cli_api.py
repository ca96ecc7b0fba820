"""The Python API's surface: pgwarden.errors, Project's sources (DSN,
Connection, ConnectionPool), context manager and repr, AsyncProject, server
WARNINGs through warnings, docstrings with examples."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import warnings
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

import pgwarden
from pgwarden import allowlist, errors
from pgwarden.sandbox import Cluster
from support import CONTROL_DB

SHOP = "regress_api_shop"
OWNER = "regress_api_app"
PASSWORD = "pgw_Zq8vN3xK7pLw2RtY5mB9a"


@pytest.fixture
def shop(cluster: Cluster) -> Iterator[str]:
    with cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(OWNER), sql.Literal(PASSWORD)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(SHOP), sql.Identifier(OWNER)))
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.register_branch(%s)", [SHOP])
    yield SHOP
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.unprotect_branch(name) FROM pgwarden.branch"
                     " WHERE protected AND name LIKE 'regress\\_api%%'")
        names = [r[0] for r in conn.execute(
            "SELECT name FROM pgwarden.branch WHERE name LIKE 'regress\\_api%%'"
            " ORDER BY created_at DESC")]
    for name in names:
        pgwarden.Project(cluster.local_dsn(CONTROL_DB)).delete_branch(name)


def test_same_failure_same_class_from_every_helper(cluster: Cluster, shop: str) -> None:
    project = pgwarden.Project(cluster.local_dsn(CONTROL_DB))
    raised = []
    for call in (lambda: project.branch("regress_api_nope"),
                 lambda: project.delete_branch("regress_api_nope"),
                 lambda: project.reset_branch("regress_api_nope"),
                 lambda: project.protect("regress_api_nope"),
                 lambda: project.endpoint("regress_api_nope"),
                 lambda: project.drop_endpoint("regress_api_nope")):
        with pytest.raises(errors.NotFound) as info:
            call()
        raised.append(info.value)
    for exc in raised:
        assert isinstance(exc, errors.PgwardenError) and isinstance(exc, LookupError)
        assert exc.sqlstate == "42704" and "does not exist" in str(exc)
    # the server's errors keep psycopg's class and diag
    assert isinstance(raised[1], psycopg.errors.UndefinedObject)
    assert raised[1].diag.sqlstate == "42704"


def test_protected_branch_error_keeps_sqlstate_detail_hint(cluster: Cluster, shop: str) -> None:
    project = pgwarden.Project(cluster.local_dsn(CONTROL_DB))
    project.protect(shop)
    for call in (lambda: project.delete_branch(shop), lambda: project.delete_project()):
        with pytest.raises(errors.ProtectedBranchError) as info:
            call()
        exc = info.value
        assert exc.sqlstate == "PW001" and "unprotect_branch" in (exc.hint or "")
        assert isinstance(exc, psycopg.Error) and exc.diag.sqlstate == "PW001"
        assert exc.as_dict()["sqlstate"] == "PW001"
    with pytest.raises(errors.InvalidValue):
        project.create_branch("regress_api_x", shop, strategy="sideways")  # type: ignore[arg-type]
    with pytest.raises(errors.AlreadyExists):
        project.register_branch(SHOP, name=SHOP)


def test_weak_password_and_branch_role_errors(cluster: Cluster,
                                              admin: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.Error) as info:
        admin.execute("CREATE ROLE regress_api_weak LOGIN PASSWORD 'Summer2024!'")
    exc = errors.from_psycopg(info.value)
    assert isinstance(exc, errors.WeakPasswordError) and isinstance(exc, ValueError)
    assert exc.sqlstate == "22023" and exc.hint
    assert errors.classify("PW002", 'branch role "a@b" cannot SET ROLE') is errors.BranchRoleError


def test_allowlist_helpers_raise_pgwarden_classes(admin: psycopg.Connection[Any]) -> None:
    with pytest.raises(errors.InvalidValue) as info:
        allowlist.add(admin, ["10.0.0.1/8"])
    assert info.value.hint == 'Did you mean "10.0.0.0/8"?'
    assert isinstance(info.value, psycopg.errors.InvalidParameterValue)
    with pytest.raises(errors.NotFound):
        allowlist.remove(admin, ["192.0.2.250"])


def test_server_warnings_through_warnings_and_notices_through_logging(
        cluster: Cluster, admin: psycopg.Connection[Any],
        caplog: pytest.LogCaptureFixture) -> None:
    admin.execute(sql.SQL("CREATE ROLE regress_api_admin LOGIN SUPERUSER PASSWORD {}").format(
        sql.Literal(PASSWORD)))
    try:
        with psycopg.connect(cluster.tcp_dsn("regress_api_admin", PASSWORD, dbname=CONTROL_DB),
                             autocommit=True) as conn:
            with pytest.warns(errors.ServerWarning,
                              match="new connections from this session's address will be "
                                    "refused") as record:
                allowlist.add(conn, ["192.0.2.10"])
            assert record[0].message.hint is None or isinstance(record[0].message.hint, str)
            with caplog.at_level(logging.INFO, logger="pgwarden.server"), \
                    errors.server_messages(conn):
                conn.execute("DO $$ BEGIN RAISE NOTICE 'regress_api notice'; END $$")
            assert any(r.getMessage() == "regress_api notice" for r in caplog.records)
    finally:
        allowlist.reset(admin, force=True)
        allowlist.wait_published(admin)


def test_project_from_a_connection_and_a_pool(cluster: Cluster, shop: str) -> None:
    dsn = cluster.local_dsn(CONTROL_DB)
    with psycopg.connect(dsn) as conn:  # not autocommit, tuple rows: given back as it was
        conn.execute("SET search_path = public")
        conn.commit()
        project = pgwarden.Project(conn)
        assert shop in [b.name for b in project.branches()]
        assert project.protect(shop).protected
        assert conn.autocommit is False and conn.row_factory is psycopg.rows.tuple_row
        assert conn.execute("SHOW search_path").fetchone() == ("public",)
        conn.commit()
        created = project.create_branch("regress_api_dev", shop, strategy="template")
        assert created.branch.parent == shop and not conn.closed
        conn.execute("SELECT 1")  # inside a transaction now: refused clearly
        with pytest.raises(errors.StateError, match="outside a transaction"):
            project.branches()
        conn.rollback()
        assert "password" not in repr(project) and "connection" in repr(project)
    with ConnectionPool(dsn, min_size=1, max_size=2, open=True,
                        kwargs={"autocommit": True, "application_name": "regress_api_pool",
                                "prepare_threshold": 5}) as pool:
        project = pgwarden.Project(pool)
        assert project.branch("regress_api_dev").parent == shop
        assert [e.name for e in project.endpoints("regress_api_dev")] == ["regress_api_dev"]
        assert "pool" in repr(project)


def test_project_context_manager_holds_one_connection(cluster: Cluster, shop: str,
                                                      admin: psycopg.Connection[Any]) -> None:
    dsn = cluster.local_dsn(CONTROL_DB) + " application_name=regress_api_held password=x"
    with pgwarden.Project(dsn, host="db.example.com") as project:
        for _ in range(3):
            project.branch(shop)
        n = admin.execute("SELECT count(*) FROM pg_stat_activity"
                          " WHERE application_name = 'regress_api_held'").fetchone()
        assert n == (1,)
        text = repr(project)
        assert "application_name=regress_api_held" in text and "password" not in text
        assert "db.example.com" in text
    deadline = time.monotonic() + 5  # a closed session leaves pg_stat_activity soon after
    while admin.execute("SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = 'regress_api_held'").fetchone() != (0,):
        assert time.monotonic() < deadline, "the held connection was not closed"
        time.sleep(0.05)
    with pytest.raises(TypeError):
        pgwarden.Project(42)  # type: ignore[arg-type]


def test_async_project_same_operations(cluster: Cluster, shop: str) -> None:
    sync_ops = {n for n, m in vars(pgwarden.Project).items()
                if not n.startswith("_") and callable(m) and n not in ("close",)}
    async_ops = {n for n in dir(pgwarden.AsyncProject) if not n.startswith("_")}
    assert sync_ops <= async_ops

    async def main() -> None:
        dsn = cluster.local_dsn(CONTROL_DB)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            project = pgwarden.AsyncProject(conn)
            assert shop in [b.name for b in await project.branches()]
            assert (await project.protect(shop)).protected
            created = await project.create_branch("regress_api_adev", shop, strategy="template")
            assert [c.parent_role for c in created.credentials] == [OWNER]
            ep = await project.create_endpoint("regress_api_adev", "regress_api_ro", "read_only")
            assert ep.kind == "read_only"
            assert (await project.suspend_endpoint("regress_api_ro")).suspended
            assert [r.parent_role for r in await project.branch_roles("regress_api_adev")] == [
                OWNER]
            with pytest.raises(errors.NotFound):
                await project.branch("regress_api_nope")
            with pytest.raises(errors.ProtectedBranchError):
                await project.delete_branch(shop)
            await project.drop_endpoint("regress_api_ro")
            await project.delete_branch("regress_api_adev")
            await project.unprotect(shop)
            assert "regress_api_adev" not in [b.name for b in await project.branches()]

    asyncio.run(main())


def _public_members() -> list[tuple[str, Any]]:
    import pgwarden.allowlist
    import pgwarden.errors

    found: list[tuple[str, Any]] = []
    for name in pgwarden.__all__:
        obj = getattr(pgwarden, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            found.append((name, obj))
            if inspect.isclass(obj) and obj.__module__.startswith("pgwarden"):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and callable(member) and attr != "as_dict":
                        found.append((f"{name}.{attr}", member))
    for module in (pgwarden.allowlist, pgwarden.errors):
        for name in getattr(module, "__all__", dir(module)):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                found.append((f"{module.__name__}.{name}", obj))
    return found


def test_public_api_has_docstrings_with_examples() -> None:
    missing = [name for name, obj in _public_members()
               if not obj.__doc__ or ">>>" not in inspect.getdoc(obj)]
    assert missing == []
    text = pydoc_text(pgwarden.Project)
    for word in ("create_branch", "ConnectionPool", ">>>", "sslmode=verify-full"):
        assert word in text


def pydoc_text(obj: Any) -> str:
    import pydoc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydoc.render_doc(obj, renderer=pydoc.plaintext)
