"""Clusters of a test's own: the one factory for them.

Most tests share the suite's cluster (``cluster`` in conftest.py).  A test
that restarts, crashes, damages or reconfigures a server asks for
``private_cluster`` (function scope) or ``module_cluster`` (one module's
tests), calls it with `pgwarden.sandbox.Cluster`'s options, and gets a
started cluster that is destroyed when the test (or module) ends, however
it ends::

    def test_restart(private_cluster: ClusterFactory) -> None:
        c = private_cluster(tls=False, control_db="regress_ctl")
        c.restart()
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from psycopg import sql

from pgwarden.sandbox import Cluster


class ClusterFactory(Protocol):
    def __call__(self, *, start: bool = True, control_db: str | None = None,
                 **options: Any) -> Cluster: ...


class _Clusters:
    """Makes clusters and destroys every one it made."""

    def __init__(self) -> None:
        self.made: list[Cluster] = []

    def __call__(self, *, start: bool = True, control_db: str | None = None,
                 **options: Any) -> Cluster:
        """A new cluster (Cluster(**options)), initialised; started unless
        start=False; with pgwarden created in a new database control_db if
        given (which needs start)."""
        c = Cluster(**options)
        self.made.append(c)
        c.init()
        if start:
            c.start()
        if control_db is not None:
            with c.connect() as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(control_db)))
            with c.connect(control_db) as conn:
                conn.execute("CREATE EXTENSION pgwarden")
        return c

    def destroy_all(self) -> None:
        while self.made:
            self.made.pop().destroy()


@pytest.fixture
def private_cluster() -> Iterator[ClusterFactory]:
    clusters = _Clusters()
    try:
        yield clusters
    finally:
        clusters.destroy_all()


@pytest.fixture(scope="module")
def module_cluster() -> Iterator[ClusterFactory]:
    clusters = _Clusters()
    try:
        yield clusters
    finally:
        clusters.destroy_all()
