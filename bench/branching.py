"""Time to create a branch, by strategy and parent size.

One run: a throwaway cluster, parents of about 100 MB and 1 GB (four tables
with a primary key each, so parallel jobs have work to share), and for each
parent:

* ``template``        — pgwarden, CREATE DATABASE ... TEMPLATE (parent idle)
* ``online, 1 job``   — pgwarden, exported snapshot + pg_dump -Fd + pg_restore
* ``online, 2 jobs``  — the same with -j 2
* ``pg_dump | pg_restore`` — the baseline: pg_dump -Fc piped into pg_restore
  (no snapshot sharing, no parallelism), into a database made from template0

Each figure is wall-clock seconds for one copy (the pgwarden strategies
include registering the branch and carrying database-level grants and
settings).  Ratios are to the baseline.  Usage::

    .venv/bin/python bench/branching.py [--sizes 100,1024]

The server runs as the postgres user (through pgwarden.sandbox).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

import psycopg
from psycopg import sql

from pgwarden.branches import Project
from pgwarden.sandbox import Cluster

CONTROL = "bench_control"
TABLES = 4
ROW_BYTES = 140  # heap bytes per row of (id bigint, a text(32), b text(64)), with index


def fill(cluster: Cluster, db: str, megabytes: int) -> int:
    rows = megabytes * 1024 * 1024 // ROW_BYTES // TABLES
    with cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    with cluster.connect(db) as conn:
        for i in range(TABLES):
            t = sql.Identifier(f"t{i}")
            conn.execute(sql.SQL(
                "CREATE TABLE {} AS SELECT g::bigint AS id, md5(g::text) AS a,"
                " md5(g::text) || md5((g + 1)::text) AS b FROM generate_series(1, %s) g").format(t),
                [rows])
            conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(t))
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert size is not None
    return int(size[0])


def baseline(cluster: Cluster, parent: str, target: str) -> float:
    with cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(target)))
    started = time.monotonic()
    dump = cluster.bindir / "pg_dump"
    restore = cluster.bindir / "pg_restore"
    common = f"-h {cluster.sockdir} -p {cluster.port} -U postgres"
    cmd = f"{dump} {common} -Fc {parent} | {restore} {common} --exit-on-error -d {target}"
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)
    elapsed = time.monotonic() - started
    with cluster.connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(target)))
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1024", help="parent sizes in MB, comma separated")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    conf = ["shared_buffers = '256MB'", "max_wal_size = '8GB'", "checkpoint_timeout = '30min'",
            "maintenance_work_mem = '256MB'", "max_connections = 50"]
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, PostgreSQL "
          f"{subprocess.run(['pg_config', '--version'], check=True, capture_output=True, text=True).stdout.strip()}")
    with Cluster(conf=conf).init() as cluster:
        cluster.start()
        with cluster.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(CONTROL)))
        with cluster.connect(CONTROL) as conn:
            conn.execute("CREATE EXTENSION pgwarden")
        project = Project(cluster.local_dsn(CONTROL))
        results: list[tuple[str, str, float]] = []
        for mb in sizes:
            parent = f"bench_parent_{mb}"
            started = time.monotonic()
            size = fill(cluster, parent, mb)
            label = f"{size / 1024 / 1024:,.0f} MB"
            print(f"# parent {parent}: {label}, filled in {time.monotonic() - started:.0f} s", flush=True)
            project.register_branch(parent)
            for name, strategy, jobs in (("template", "template", 1),
                                         ("online, 1 job", "online", 1),
                                         ("online, 2 jobs", "online", 2)):
                created = project.create_branch(f"bench_child_{mb}", parent, strategy=strategy, jobs=jobs)
                results.append((label, name, created.seconds))
                print(f"{label}\t{name}\t{created.seconds:.2f} s", flush=True)
                project.delete_branch(f"bench_child_{mb}")
                with cluster.connect() as conn:
                    conn.execute("CHECKPOINT")
            seconds = baseline(cluster, parent, f"bench_copy_{mb}")
            results.append((label, "pg_dump | pg_restore", seconds))
            print(f"{label}\tpg_dump | pg_restore\t{seconds:.2f} s", flush=True)
            project.delete_branch(parent)

    print()
    print("| parent | strategy | seconds | ratio to pg_dump \\| pg_restore |")
    print("| --- | --- | ---: | ---: |")
    for label in dict.fromkeys(r[0] for r in results):
        base = next(s for lb, n, s in results if lb == label and n == "pg_dump | pg_restore")
        for lb, name, secs in results:
            if lb == label:
                shown = name.replace("|", "\\|")
                print(f"| {label} | {shown} | {secs:.2f} | {secs / base:.3f} |")


if __name__ == "__main__":
    try:
        main()
    except psycopg.Error as exc:
        raise SystemExit(f"bench/branching.py: {exc}") from exc
