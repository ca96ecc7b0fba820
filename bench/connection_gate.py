"""Connections per second through pgwarden's connection gate.

One run, six configurations, each measured with ``pgbench -C`` (a new TLS +
SCRAM connection for every transaction of ``SELECT 1``), printed as rates and
as ratios to plain PostgreSQL:

* ``no pgwarden``        — PostgreSQL 15 without the extension (the baseline)
* ``hba 10,000 lines``   — no pgwarden, pg_hba.conf holding 10,000 address lines
                           before the line that matches the client
* ``gate, 0 entries``    — pgwarden preloaded and created, empty allowlist
* ``gate, 1,000``        — 1,000 allowlist entries (singles, ranges, CIDR blocks)
* ``gate, 100,000``      — 100,000 entries
* ``gate, counters off``  — as ``gate, 0 entries`` with ``pgwarden.gate_stats = off``:
                           the cost of the gate's counters is the ratio of
                           ``gate, 0 entries`` to this row

Every configuration uses TLS (sslmode=verify-full) and scram-sha-256, as the
gate requires.  Usage::

    .venv/bin/python bench/connection_gate.py [--seconds 4] [--repeat 5] [--clients 2]
        [--compare /path/to/other/pg_config:LABEL]

``--compare`` adds the three gate configurations once more, served by the
PostgreSQL installation of that pg_config (another build of pgwarden installed
there, for example the code before a change), in the same interleaved rounds:
before and after are measured in one run, as ratios to the same baseline.

All six clusters run at once and the rounds interleave the configurations,
so drift in the machine's load affects them alike.

The server runs as the postgres user (through pgwarden.sandbox).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgwarden import allowlist, generate_password
from pgwarden.sandbox import Cluster

ROLE = "bench_gate"
HBA_BASE = ["local all all trust"]


def entries(n: int) -> list[str]:
    """n distinct entries outside loopback: 80% singles, 10% ranges, 10% CIDR blocks."""
    out: list[str] = []
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    for i in range(n):
        kind = i % 10
        if kind == 8:
            a = ipaddress.IPv4Address(base + (1 << 22) + i * 16)
            out.append(f"{a}-{a + 7}")
        elif kind == 9:
            out.append(f"{ipaddress.IPv4Address(base + (1 << 23) + i * 256)}/24")
        else:
            out.append(str(ipaddress.IPv4Address(base + i)))
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} CPUs, {mem:.0f} GiB, Linux {platform.release()}"


def pgbench(cluster: Cluster, password: str, seconds: float, clients: int) -> float:
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    script.write_text("SELECT 1;\n")
    env = dict(os.environ, PGPASSWORD=password, PGSSLMODE="verify-full",
               PGSSLROOTCERT=str(cluster.ca_cert))
    try:
        done = subprocess.run(
            [str(cluster.bindir / "pgbench"), "-n", "-C", "-f", str(script),
             "-T", str(int(seconds)), "-c", str(clients), "-j", str(clients),
             "-h", "127.0.0.1", "-p", str(cluster.port), "-U", ROLE, "postgres"],
            check=False, capture_output=True, text=True, env=env)
    finally:
        script.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    out = done.stdout
    m = re.search(r"tps = ([0-9.]+)", out)
    if not m:
        raise RuntimeError(f"unexpected pgbench output:\n{out}")
    return float(m.group(1))


def make_role(conn: psycopg.Connection[Any]) -> str:
    pw = generate_password()
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
        sql.Identifier(ROLE), sql.Literal(pw)))
    return pw


def decision_time(conn: psycopg.Connection[Any], calls: int = 20_000) -> float:
    """Microseconds per gate decision for an allowed client, best of 5 runs."""
    q = sql.SQL("SELECT count({}('127.0.0.1', %s, 'postgres')) FROM generate_series(1, %s)")\
        .format(sql.Identifier("pgwarden", "check_connection"))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        conn.execute(q, (ROLE, calls))
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    ap.add_argument("--repeat", type=int, default=5,
                    help="rounds; each round measures every configuration once (median)")
    ap.add_argument("--clients", type=int, default=2, help="concurrent pgbench clients")
    ap.add_argument("--compare", action="append", default=[], metavar="PG_CONFIG:LABEL",
                    help="also measure the gate of the pgwarden installed with this pg_config")
    args = ap.parse_args(argv)

    hba_host = ["host all all 127.0.0.1/32 scram-sha-256"]
    many_hba = [f"host all all 10.{i // 250 % 250}.{i % 250}.{i // 62500 + 1}/32 scram-sha-256"
                for i in range(10_000)]
    configs: list[tuple[str, Cluster, int | None]] = [
        ("no pgwarden", Cluster(preload=False, hba=HBA_BASE + hba_host), None),
        ("hba 10,000 lines", Cluster(preload=False, hba=HBA_BASE + many_hba + hba_host), None),
        ("gate, 0 entries", Cluster(hba=HBA_BASE + hba_host), 0),
        ("gate, 1,000", Cluster(hba=HBA_BASE + hba_host), 1_000),
        ("gate, 100,000", Cluster(hba=HBA_BASE + hba_host), 100_000),
        ("gate, counters off", Cluster(hba=HBA_BASE + hba_host,
                                       conf=["pgwarden.gate_stats = off"]), 0),
    ]
    for spec in args.compare:
        pg_config, _, tag = spec.partition(":")
        bindir = Path(subprocess.run([pg_config, "--bindir"], check=True, capture_output=True,
                                     text=True).stdout.strip())
        for label, n in (("gate, 0 entries", 0), ("gate, 1,000", 1_000),
                         ("gate, 100,000", 100_000)):
            configs.append((f"{label} [{tag or pg_config}]",
                            Cluster(hba=HBA_BASE + hba_host, bindir=bindir), n))
    passwords: dict[str, str] = {}
    decision_us: dict[str, float] = {}
    notes: list[str] = []
    rates: dict[str, list[float]] = {label: [] for label, _, _ in configs}
    try:
        for label, cluster, n in configs:
            cluster.init()
            cluster.start()
            with cluster.connect() as conn:
                passwords[label] = make_role(conn)
                if n is None:
                    continue
                conn.execute("CREATE EXTENSION pgwarden")
                start = time.perf_counter()
                todo = entries(n)
                for i in range(0, len(todo), 10_000):
                    allowlist.add(conn, todo[i:i + 10_000])
                if n:
                    allowlist.add(conn, ["127.0.0.1"])  # the client must stay allowed
                status = allowlist.wait_published(conn, timeout=60)
                rule = allowlist.check_connection(conn, "127.0.0.1", ROLE, "postgres")
                decision_us[label] = decision_time(conn)
                notes.append(f"{label}: {n + (1 if n else 0):,} entries added and published in "
                             f"{time.perf_counter() - start:.1f} s, snapshot "
                             f"{status.memory_used / 1024:.0f} kB; the gate says: {rule}")
        print(f"{len(configs)} clusters up; {args.repeat} rounds of {args.seconds:g} s each",
              flush=True)
        for r in range(args.repeat):
            for label, cluster, _ in configs:
                rate = pgbench(cluster, passwords[label], args.seconds, args.clients)
                rates[label].append(rate)
            print(f"  round {r + 1}: " + ", ".join(f"{lbl} {v[-1]:.0f}" for lbl, v in rates.items()),
                  flush=True)
    finally:
        for _, cluster, _ in configs:
            cluster.destroy()

    results = {label: statistics.median(v) for label, v in rates.items()}
    base = results["no pgwarden"]
    print()
    print(f"machine: {machine()}")
    print(f"pgbench -C -f 'SELECT 1', {args.clients} clients, {args.repeat} interleaved rounds of "
          f"{args.seconds:g} s (median); TLS verify-full + scram-sha-256 on every connection")
    print()
    print("| configuration | connections/s | ratio to no pgwarden | spread of rounds |")
    print("| --- | ---: | ---: | ---: |")
    for label, rate in results.items():
        spread = (max(rates[label]) - min(rates[label])) / rate * 100
        print(f"| {label} | {rate:.1f} | {rate / base:.3f} | {spread:.0f}% |")
    on, off = results["gate, 0 entries"], results["gate, counters off"]
    print()
    print(f"gate counters (pgwarden.gate_stats): on / off = {on / off:.3f} "
          f"(rounds: {', '.join(f'{a / b:.2f}' for a, b in zip(rates['gate, 0 entries'], rates['gate, counters off']))})")
    for spec in args.compare:
        pg_config, _, tag = spec.partition(":")
        tag = tag or pg_config
        for label in ("gate, 0 entries", "gate, 1,000", "gate, 100,000"):
            mine, theirs = rates[label], rates[f"{label} [{tag}]"]
            per_round = ", ".join(f"{a / b:.2f}" for a, b in zip(mine, theirs))
            print(f"{label}: this build / [{tag}] = "
                  f"{results[label] / results[f'{label} [{tag}]']:.3f} (rounds: {per_round})")
    print()
    print("The gate's decision alone (pgwarden.check_connection runs the same code over the "
          "published snapshot; 20,000 calls in one statement, best of 5, SQL call overhead "
          "included):")
    print()
    print("| configuration | microseconds per decision |")
    print("| --- | ---: |")
    for label, us in decision_us.items():
        print(f"| {label} | {us:.2f} |")
    print()
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
