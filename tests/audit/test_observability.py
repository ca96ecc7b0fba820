"""Reading what pgwarden recorded: `pgwarden audit list`, Project.audit(),
`pgwarden status`, `pgwarden metrics` (scraped and parsed as Prometheus does)
and the postgres_exporter query file shipped in the package."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from pgwarden import allowlist, audit, cli, metrics
from pgwarden.branches import Project
from pgwarden.sandbox import Cluster
from support import CONTROL_DB


@pytest.fixture
def control(admin: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    allowlist.reset(admin, force=True)
    yield admin
    allowlist.reset(admin, force=True)


@pytest.fixture
def monitor(cluster: Cluster, admin: psycopg.Connection[Any]) -> Iterator[str]:
    """A pgwarden_admin member over TLS (what the exporter would use)."""
    role = "regress_monitor"
    pw = admin.execute("SELECT pgwarden.generate_password()").fetchone()[0]  # type: ignore[index]
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pgwarden_admin").format(
        sql.Identifier(role), sql.Literal(pw)))
    yield cluster.tcp_dsn(role, pw, dbname=CONTROL_DB)


def test_audit_list_filters_and_json(cluster: Cluster, control: psycopg.Connection[Any],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    allowlist.add(control, ["192.0.2.77", "192.0.2.78"])
    allowlist.remove(control, ["192.0.2.77"])
    dsn = cluster.local_dsn(CONTROL_DB)
    assert cli.main(["audit", "list", "--since", "1h", "--action", "allowlist.*",
                     "--object", "192.0.2.77", "--dsn", dsn, "--output", "json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in events][-2:] == ["allowlist.add", "allowlist.remove"]
    assert all(e["object"] == "192.0.2.77" for e in events)
    assert events[-1]["before"]["entry"] == "192.0.2.77" and events[-1]["session_user"] == "postgres"
    assert cli.main(["audit", "list", "--action", "allowlist.remove", "--limit", "1",
                     "--dsn", dsn]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["at", "action", "object"]
    assert len(table) == 3 and "allowlist.remove" in table[2] and "192.0.2.77" in table[2]
    # the literal characters of a filter are not patterns
    assert cli.main(["audit", "list", "--action", "allowlist_add", "--dsn", dsn,
                     "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["audit", "list", "--since", "yesterday", "--dsn", dsn]) == 2
    assert "not a duration" in capsys.readouterr().err


def test_project_audit(cluster: Cluster, control: psycopg.Connection[Any]) -> None:
    allowlist.add(control, ["192.0.2.79"])
    events = Project(cluster.local_dsn(CONTROL_DB)).audit(since=dt.timedelta(minutes=5),
                                                          action=["allowlist.add"],
                                                          object="192.0.2.79")
    assert len(events) == 1
    e = events[0]
    assert isinstance(e, audit.AuditEvent) and e.after["entry"] == "192.0.2.79"
    assert e.xid is not None and e.database == CONTROL_DB
    assert audit.parse_since("1h30m") == dt.timedelta(hours=1, minutes=30)
    with pytest.raises(ValueError):
        audit.parse_since("soon")


def test_status_one_screen(cluster: Cluster, control: psycopg.Connection[Any],
                           capsys: pytest.CaptureFixture[str]) -> None:
    allowlist.add(control, ["192.0.2.80", "127.0.0.1"])
    allowlist.wait_published(control)
    dsn = cluster.local_dsn(CONTROL_DB)
    assert cli.main(["status", "--dsn", dsn]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("policy:      loaded, version ")
    assert "allowlist:   2 entries, applying to every database" in out
    assert any(line.split()[:1] == ["admitted"] for line in lines)
    assert "protected:" in out and "audit:       last event" in out
    assert len(lines) < 40
    assert cli.main(["status", "--dsn", dsn, "--output", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["policy"]["state"] == "loaded" and s["allowlist"]["entries"] == 2
    assert {g["reason"] for g in s["gate"]} >= {"admitted", "address_not_allowed"}


def test_metrics_scraped_and_parsed(monitor: str, control: psycopg.Connection[Any],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    allowlist.add(control, ["192.0.2.81", "127.0.0.1"])
    allowlist.wait_published(control)
    assert cli.main(["metrics", "--dsn", monitor]) == 0
    text = capsys.readouterr().out
    families = {f.name: f for f in text_string_to_metric_families(text)}
    gate = families["pgwarden_gate_connections"]
    assert gate.type == "counter"
    by_reason = {s.labels["reason"]: s.value for s in gate.samples}
    stats = {g.reason: g.connections for g in audit.gate_stats(control)}
    assert set(by_reason) == set(stats)
    assert by_reason["admitted"] >= 1 and by_reason["admitted"] <= stats["admitted"]
    policy = families["pgwarden_policy_version"].samples[0]
    assert policy.labels == {"state": "loaded"} and policy.value >= 1
    assert families["pgwarden_policy_allowlist_entries"].samples[0].value == 2
    assert families["pgwarden_policy_memory_capacity_bytes"].samples[0].value > 0
    assert "pgwarden_audit_last_event_seconds" in families


def test_exporter_query_file_is_current_and_runs(monitor: str) -> None:
    shipped = metrics.shipped_exporter_yaml()
    assert shipped == metrics.exporter_yaml(), \
        "regenerate: pgwarden metrics --exporter-queries > python/pgwarden/postgres_exporter.yaml"
    doc = yaml.safe_load(shipped)
    assert set(doc) == {q.name for q in metrics.QUERIES}
    with psycopg.connect(monitor, autocommit=True) as conn:
        for name, spec in doc.items():
            cur = conn.execute(spec["query"])
            columns = [d.name for d in cur.description or ()]
            declared = [next(iter(m)) for m in spec["metrics"]]
            assert columns == declared, name
            for m in spec["metrics"]:
                (_col, info), = m.items()
                assert info["usage"] in ("LABEL", "COUNTER", "GAUGE") and info["description"]


def test_metrics_without_a_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["metrics", "--dsn", "host=/nonexistent dbname=x connect_timeout=2"]) == 3
    assert "could not connect" in capsys.readouterr().err
    assert cli.main(["metrics", "--exporter-queries"]) == 0
    assert capsys.readouterr().out == metrics.exporter_yaml()
