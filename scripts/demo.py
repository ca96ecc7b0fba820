"""`make demo`: a throwaway cluster with pgwarden loaded and TLS on, and a tour.

Each section is a function taking the running cluster; it prints what it does
and what the server answered.  Passwords are never printed: generated ones are
shown as their first characters only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

import pgwarden
from pgwarden.sandbox import Cluster

CONTROL_DB = "warden"


def title(text: str) -> None:
    print(f"\n=== {text} ===")


def show_error(exc: psycopg.Error) -> None:
    d = exc.diag
    print(f"  refused: {d.sqlstate} ERROR: {d.message_primary}")
    if d.message_detail:
        print(f"           DETAIL: {d.message_detail}")
    if d.message_hint:
        print(f"           HINT: {d.message_hint}")


def expect_refusal(conn: psycopg.Connection[Any], label: str, stmt: sql.Composable) -> None:
    print(f"  {label}")
    try:
        conn.execute(stmt)
    except psycopg.Error as exc:
        show_error(exc)
    else:
        print("  UNEXPECTED: the statement succeeded")
        raise SystemExit(1)


def section_passwords(c: Cluster) -> None:
    title("Strong passwords, checked inside the server")
    with c.connect(CONTROL_DB) as conn:
        for pw in ["Summer2024!", "P@ssw0rd123", "qwertyuiop", "CorrectHorse2019"]:
            stmt = sql.SQL("CREATE ROLE demo_app LOGIN PASSWORD {}").format(sql.Literal(pw))
            expect_refusal(conn, "CREATE ROLE demo_app LOGIN PASSWORD '<weak>';", stmt)
        pw = conn.execute("SELECT pgwarden.generate_password()").fetchone()[0]
        bits = conn.execute("SELECT pgwarden.entropy_bits(%s)", [pw]).fetchone()[0]
        conn.execute(sql.SQL("CREATE ROLE demo_app LOGIN PASSWORD {}").format(sql.Literal(pw)))
        print(f"  accepted: CREATE ROLE demo_app with pgwarden.generate_password() "
              f"({pw[:6]}…, {bits:.0f} bits)")
        hashed = conn.pgconn.encrypt_password(pw.encode(), b"demo_app", b"scram-sha-256")
        expect_refusal(conn, "ALTER ROLE demo_app PASSWORD '<pre-hashed SCRAM, as psql \\password sends>';",
                       sql.SQL("ALTER ROLE demo_app PASSWORD {}").format(
                           sql.Literal(hashed.decode())))
    print("  the same estimator from Python:")
    for pw in ["Summer2024!", "correct horse battery staple", "k7Qm2vX9pL4w"]:
        v = pgwarden.check_password(pw)
        print(f"    {'accepted' if v.ok else 'rejected'}  {v.bits:5.1f} bits  "
              f"{', '.join(v.findings) or 'no pattern'}  (a {len(pw)}-character password)")
    log = c.read_log()
    masked = sum(1 for line in log.splitlines() if "PASSWORD '********'" in line)
    print(f"  server log (log_statement = 'all'): {masked} statements logged with the password"
          " masked as '********'; no plaintext password in it:",
          "Summer2024!" not in log)


SECTIONS: list[Callable[[Cluster], None]] = [section_passwords]


def main() -> int:
    print("Starting a throwaway PostgreSQL cluster with pgwarden preloaded and TLS on…")
    with Cluster(conf=["log_statement = 'all'"]).init() as c:
        c.start()
        with c.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(CONTROL_DB)))
        with c.connect(CONTROL_DB) as conn:
            conn.execute("CREATE EXTENSION pgwarden")
            version = conn.execute("SELECT version()").fetchone()[0]
        print(f"  {version.split(' on ')[0]}, port {c.port}, data in {c.data}")
        for section in SECTIONS:
            section(c)
        print("\nDemo finished; the cluster is stopped and removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
