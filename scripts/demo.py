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
from pgwarden import allowlist
from pgwarden.branches import Project
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


def try_connect(label: str, dsn: str) -> bool:
    """Connect and report; True when admitted."""
    try:
        with psycopg.connect(dsn) as conn:
            ssl = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                               ).fetchone()
            print(f"  {label}: admitted (TLS {'on' if ssl and ssl[0] else 'off'})")
            return True
    except psycopg.OperationalError as exc:
        lines = str(exc).strip().splitlines()
        reason = next((ln for ln in lines if "FATAL:" in ln), lines[-1])
        print(f"  {label}: refused — {reason.split('FATAL:  ')[-1]}")
        return False


def section_gate(c: Cluster) -> None:
    title("Required TLS and the IP allowlist, enforced at authentication")
    with c.connect(CONTROL_DB) as conn:
        pw = conn.execute("SELECT pgwarden.generate_password()").fetchone()[0]
        conn.execute(sql.SQL("ALTER ROLE demo_app PASSWORD {}").format(sql.Literal(pw)))
        try_connect("demo_app over TCP without TLS (sslmode=disable)",
                    c.tcp_dsn("demo_app", pw, sslmode="disable"))
        try_connect("demo_app over TCP with sslmode=verify-full",
                    c.tcp_dsn("demo_app", pw))
        print("  SELECT pgwarden.ip_allow_add(ARRAY['198.51.100.0/24', '2001:db8::/32']);")
        allowlist.add(conn, ["198.51.100.0/24", "2001:db8::/32"])
        allowlist.wait_published(conn)
        verdict = allowlist.check_connection(conn, "127.0.0.1", "demo_app", "postgres")
        print(f"  check_connection('127.0.0.1', 'demo_app', 'postgres') → {verdict}")
        try_connect("demo_app from 127.0.0.1 with the right password",
                    c.tcp_dsn("demo_app", pw))
        print("  SELECT pgwarden.ip_allow_add(ARRAY['127.0.0.1'], role => 'demo_app');")
        allowlist.add(conn, ["127.0.0.1"], role="demo_app")
        allowlist.wait_published(conn)
        try_connect("demo_app from 127.0.0.1 again", c.tcp_dsn("demo_app", pw))
        allowlist.reset(conn, force=True)
        allowlist.wait_published(conn)
        print("  SELECT pgwarden.ip_allow_reset();  -- an empty allowlist restricts nobody")


def section_branches(c: Cluster) -> None:
    title("Protected branches")
    with c.connect() as conn:
        conn.execute("CREATE DATABASE shop OWNER demo_app")
    with c.connect("shop") as conn:
        conn.execute("SET ROLE demo_app")
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, total numeric)")
        conn.execute("INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 1000) g")
    project = Project(c.local_dsn(CONTROL_DB))
    project.register_branch("shop")
    project.protect("shop")
    print("  SELECT pgwarden.register_branch('shop'); SELECT pgwarden.protect_branch('shop');")
    with c.connect() as conn:
        expect_refusal(conn, "DROP DATABASE shop WITH (FORCE);",
                       sql.SQL("DROP DATABASE shop WITH (FORCE)"))
        expect_refusal(conn, "ALTER DATABASE shop ALLOW_CONNECTIONS false;",
                       sql.SQL("ALTER DATABASE shop ALLOW_CONNECTIONS false"))
        expect_refusal(conn, "ALTER DATABASE shop RENAME TO shop_hidden;  -- then CREATE DATABASE shop",
                       sql.SQL("ALTER DATABASE shop RENAME TO shop_hidden"))
    with c.connect(CONTROL_DB) as conn:
        expect_refusal(conn, "DROP EXTENSION pgwarden;", sql.SQL("DROP EXTENSION pgwarden"))
        expect_refusal(conn, "ALTER SCHEMA pgwarden RENAME TO x;  -- then DROP SCHEMA x CASCADE",
                       sql.SQL("ALTER SCHEMA pgwarden RENAME TO x"))
        expect_refusal(conn, "ALTER EXTENSION pgwarden DROP TABLE pgwarden.branch;",
                       sql.SQL("ALTER EXTENSION pgwarden DROP TABLE pgwarden.branch"))
    created = project.create_branch("dev", "shop")
    print(f"  pgwarden branches create dev --parent shop: copied with {created.strategy} in "
          f"{created.seconds:.2f} s; credentials returned once:")
    for cred in created.credentials:
        print(f"    role {cred.role} (acts as {cred.parent_role} inside dev only)")
        try_connect(f"  {cred.role} to database dev",
                    c.tcp_dsn(cred.role, cred.password, dbname="dev"))
        try_connect(f"  {cred.role} to database shop (the protected parent)",
                    c.tcp_dsn(cred.role, cred.password, dbname="shop"))
        with psycopg.connect(c.tcp_dsn(cred.role, cred.password, dbname="dev"),
                             autocommit=True) as conn:
            owner = conn.execute("SELECT pg_get_userbyid(relowner) FROM pg_class"
                                 " WHERE relname = 'orders'").fetchone()[0]
            member = conn.execute("SELECT pg_has_role(%s, 'USAGE')",
                                  [cred.parent_role]).fetchone()[0]
            print(f"    inside dev it owns orders ({owner}); member of {cred.parent_role}: "
                  f"{'yes' if member else 'no'} (so it sees none of its sessions elsewhere)")
    project.create_endpoint("shop", "shop-ro", "read_only")
    print("  SELECT pgwarden.create_endpoint('shop', 'shop-ro', 'read_only');")
    with c.connect("shop", options="-c pgwarden.endpoint=shop-ro") as conn:
        expect_refusal(conn, "through shop-ro: DELETE FROM orders;",
                       sql.SQL("DELETE FROM orders"))
        expect_refusal(conn, "through shop-ro: SET default_transaction_read_only = off;",
                       sql.SQL("SET default_transaction_read_only = off"))
    with c.connect(CONTROL_DB) as conn:
        expect_refusal(conn, "SELECT pgwarden.drop_endpoint('shop');  -- the default endpoint",
                       sql.SQL("SELECT pgwarden.drop_endpoint('shop')"))
    project.delete_branch("dev")
    print("  pgwarden branches delete dev: database and branch roles dropped")
    project.unprotect("shop")
    print("  SELECT pgwarden.unprotect_branch('shop');  -- now DROP DATABASE would succeed")


SECTIONS: list[Callable[[Cluster], None]] = [section_passwords, section_gate, section_branches]


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
