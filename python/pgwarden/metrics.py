"""pgwarden's metrics: one set of queries, two ways out.

:data:`QUERIES` is the single definition.  :func:`exporter_yaml` renders it as
a query file for postgres_exporter (``--extend.query-path``; shipped as
``postgres_exporter.yaml`` in this package, kept equal to the rendering by
the test suite), and :func:`scrape` runs it and prints Prometheus' text
format, as ``pgwarden metrics`` does.  Both name a metric
``<query>_<column>``, with LABEL columns as labels, the way postgres_exporter
does, so dashboards work with either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

__all__ = ["QUERIES", "Column", "Query", "exporter_yaml", "scrape", "shipped_exporter_yaml"]


@dataclass(frozen=True)
class Column:
    name: str
    usage: str  # LABEL, COUNTER or GAUGE
    description: str


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    columns: tuple[Column, ...]


QUERIES: tuple[Query, ...] = (
    Query(
        "pgwarden_gate",
        "SELECT reason, connections,"
        " extract(epoch FROM last_at)::float8 AS last_seconds,"
        " extract(epoch FROM since)::float8 AS since_seconds"
        " FROM pgwarden.gate_stats",
        (
            Column("reason", "LABEL", "What the connection gate decided: admitted or why it refused"),
            Column("connections", "COUNTER",
                   "Connections the gate decided this way on this server since start or reset"),
            Column("last_seconds", "GAUGE",
                   "Unix time of the last connection decided this way"),
            Column("since_seconds", "GAUGE",
                   "Unix time since which the counters count (server start or gate_stats_reset)"),
        ),
    ),
    Query(
        "pgwarden_policy",
        "SELECT s.state, s.version::float8 AS version,"
        " extract(epoch FROM pg_catalog.now() - s.loaded_at)::float8 AS loaded_age_seconds,"
        " (SELECT extract(epoch FROM pg_catalog.now() - v.changed_at)::float8"
        " FROM pgwarden.policy_version v) AS changed_age_seconds,"
        " s.memory_used::float8 AS memory_used_bytes,"
        " s.memory_capacity::float8 AS memory_capacity_bytes,"
        " (SELECT count(*) FROM pgwarden.ip_allowlist)::float8 AS allowlist_entries,"
        " (SELECT count(*) FROM pgwarden.branches b WHERE b.protected)::float8"
        " AS protected_branches"
        " FROM pgwarden.policy_status() s",
        (
            Column("state", "LABEL", "State of the policy the gate enforces: loaded, not loaded, damaged"),
            Column("version", "GAUGE", "Version of the policy in force on this server"),
            Column("loaded_age_seconds", "GAUGE",
                   "Seconds since this server published the policy to shared memory"),
            Column("changed_age_seconds", "GAUGE", "Seconds since the policy was last changed"),
            Column("memory_used_bytes", "GAUGE", "Shared memory used by the policy snapshot"),
            Column("memory_capacity_bytes", "GAUGE",
                   "Shared memory reserved for the policy snapshot (pgwarden.policy_memory)"),
            Column("allowlist_entries", "GAUGE", "Entries in the IP allowlist"),
            Column("protected_branches", "GAUGE", "Branches that are protected"),
        ),
    ),
    Query(
        "pgwarden_audit",
        "SELECT extract(epoch FROM max(at))::float8 AS last_event_seconds,"
        " (SELECT count(*) FROM pgwarden.audit_log a"
        " WHERE a.action LIKE '%.refused' AND a.at > pg_catalog.now() - interval '1 hour'"
        ")::float8 AS refusals_last_hour"
        " FROM pgwarden.audit_log",
        (
            Column("last_event_seconds", "GAUGE", "Unix time of the newest audit log row"),
            Column("refusals_last_hour", "GAUGE",
                   "Refused passwords and protections recorded in the last hour"),
        ),
    ),
)

_TYPES = {"COUNTER": "counter", "GAUGE": "gauge"}


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exporter_yaml() -> str:
    """QUERIES as a postgres_exporter query file (YAML)."""
    lines = ["# pgwarden metrics for postgres_exporter (--extend.query-path).",
             "# Generated from pgwarden/metrics.py: pgwarden metrics --exporter-queries",
             "# Connect the exporter to the control database as a member of pgwarden_admin.",
             ""]
    for q in QUERIES:
        lines += [f"{q.name}:", f"  query: {_quote(q.sql)}", "  master: true", "  metrics:"]
        for c in q.columns:
            lines += [f"    - {c.name}:", f"        usage: {_quote(c.usage)}",
                      f"        description: {_quote(c.description)}"]
    return "\n".join(lines) + "\n"


def shipped_exporter_yaml() -> str:
    """The query file shipped in the package."""
    return (resources.files("pgwarden") / "postgres_exporter.yaml").read_text()


def _label(value: Any) -> str:
    s = "" if value is None else str(value)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def scrape(conn: psycopg.Connection[Any]) -> str:
    """Run QUERIES on the control database and return Prometheus' text format."""
    out: list[str] = []
    for q in QUERIES:
        with conn.cursor() as cur:
            cur.execute(q.sql)
            names = [d.name for d in cur.description or ()]
            rows = cur.fetchall()
        labels = [c for c in q.columns if c.usage == "LABEL"]
        for c in q.columns:
            if c.usage == "LABEL":
                continue
            metric = f"{q.name}_{c.name}"
            out.append(f"# HELP {metric} {c.description}")
            out.append(f"# TYPE {metric} {_TYPES[c.usage]}")
            for row in rows:
                value = row[names.index(c.name)]
                if value is None:
                    continue
                lab = ",".join(f"{lc.name}={_label(row[names.index(lc.name)])}" for lc in labels)
                out.append(f"{metric}{{{lab}}} {_number(float(value))}" if lab
                           else f"{metric} {_number(float(value))}")
    return "\n".join(out) + "\n"
