"""The audit trail and the gate's counters on a cluster of this module's own:
the log reaches a streaming standby, and a damaged policy shows in the
counters and in `pgwarden status`."""

from __future__ import annotations

import time

import psycopg
import pytest

from pgwarden import allowlist, cli
from support.gate import SCRATCH_DB, Scratch


def test_audit_log_reaches_the_standby(fresh: Scratch) -> None:
    with fresh.admin() as conn:
        conn.execute("CHECKPOINT")  # else pg_basebackup waits for a spread checkpoint
    standby = fresh.cluster.make_standby()
    try:
        standby.start()
        with fresh.admin() as conn:
            allowlist.add(conn, ["192.0.2.200"])
            wanted = conn.execute("SELECT max(id) FROM pgwarden.audit_log").fetchone()
        deadline = time.monotonic() + 10
        while True:
            with standby.connect(SCRATCH_DB) as sconn:
                got = sconn.execute("SELECT action, object FROM pgwarden.audit_log"
                                    " WHERE id = %s", wanted).fetchone()
            if got is not None:
                break
            assert time.monotonic() < deadline, "the row did not reach the standby"
            time.sleep(0.1)
        assert got == ("allowlist.add", "192.0.2.200")
        with standby.connect(SCRATCH_DB) as sconn:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                sconn.execute("SELECT pgwarden.audit_prune(interval '0')")
            # the standby's own gate counts its own connections
            assert sconn.execute("SELECT connections FROM pgwarden.gate_stats"
                                 " WHERE reason = 'admitted'").fetchone()[0] >= 1  # type: ignore[index]
    finally:
        standby.destroy()


def test_refusals_queue_on_a_standby_until_promotion(fresh: Scratch) -> None:
    """A standby cannot write: its refusals wait in the queue (128 events,
    the rest counted as dropped) and are written once it is promoted."""
    with fresh.cluster.connect() as conn:
        conn.execute("CREATE DATABASE regress_guarded")
    with fresh.admin() as conn:
        conn.execute("SELECT pgwarden.register_branch('regress_guarded')")
        conn.execute("SELECT pgwarden.protect_branch('regress_guarded')")
        conn.execute("CHECKPOINT")
    standby = fresh.cluster.make_standby()
    try:
        standby.start()
        with standby.connect() as sconn:
            for _ in range(130):
                with pytest.raises(psycopg.Error) as info:
                    sconn.execute("DROP DATABASE regress_guarded")
                assert info.value.diag.sqlstate == "PW001"
        time.sleep(0.5)
        with standby.connect(SCRATCH_DB) as sconn:
            assert sconn.execute("SELECT count(*) FROM pgwarden.audit_log"
                                 " WHERE action = 'protection.refused'").fetchone() == (0,)
        standby.run(standby.bindir / "pg_ctl", "-D", standby.data, "-w", "promote")
        deadline = time.monotonic() + 20
        while True:
            with standby.connect(SCRATCH_DB) as sconn:
                refused = sconn.execute("SELECT count(*) FROM pgwarden.audit_log"
                                        " WHERE action = 'protection.refused'").fetchone()
                dropped = sconn.execute("SELECT after FROM pgwarden.audit_log"
                                        " WHERE action = 'audit.dropped'").fetchone()
            if refused == (128,) and dropped is not None:
                break
            assert time.monotonic() < deadline, (refused, dropped)
            time.sleep(0.1)
        assert dropped[0] == {"dropped": 2}
    finally:
        standby.destroy()
        with fresh.admin() as conn:
            conn.execute("SELECT pgwarden.unprotect_branch('regress_guarded')")


def test_damaged_policy_counted_and_shown(fresh: Scratch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    dsn = fresh.cluster.local_dsn(SCRATCH_DB)
    with fresh.admin() as conn:
        conn.execute("SELECT pgwarden.gate_stats_reset()")
        conn.execute("ALTER TABLE pgwarden.policy_version RENAME TO policy_version_moved")
    try:
        assert fresh.cluster.wait_for_log("connection policy damaged", timeout=5)
        assert fresh.attempt() is not None
        with fresh.admin() as conn:
            row = conn.execute("SELECT connections, last_client FROM pgwarden.gate_stats"
                               " WHERE reason = 'policy_unreadable'").fetchone()
        assert row is not None and row[0] == 1 and str(row[1]) == "127.0.0.1"
        assert cli.main(["status", "--dsn", dsn]) == 1
        assert capsys.readouterr().out.startswith("policy:      damaged")
    finally:
        with fresh.admin() as conn:
            conn.execute("ALTER TABLE pgwarden.policy_version_moved RENAME TO policy_version")
    deadline = time.monotonic() + 5
    while fresh.attempt() is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
