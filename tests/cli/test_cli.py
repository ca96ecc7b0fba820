"""The `pgwarden` command's conventions, driven as a subprocess against the
suite's server, with and without a pseudo-terminal (README: "The pgwarden
command").  The JSON shapes documented per command are checked in
test_cli_readme.py; the Python API's errors and classes in test_cli_api.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden import allowlist
from pgwarden.branches import Project
from pgwarden.sandbox import Cluster
from support import CONTROL_DB
from support.clusters import ClusterFactory
from support.helpers import assert_not_in

PGWARDEN = [sys.executable, "-m", "pgwarden.cli"]
SHOP = "regress_cli_shop"
OWNER = "regress_cli_app"
OWNER_PASSWORD = "pgw_Tq8vN3xK7pLw2RtY5mB9z"


def run(*argv: str, input: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command without a terminal (standard input is a pipe)."""
    out = subprocess.run([*PGWARDEN, *argv], capture_output=True, text=True,
                         input=input if input is not None else "", check=False,
                         env={**os.environ, **(env or {})}, timeout=timeout)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def run_tty(*argv: str, answers: Sequence[bytes] = (), prompt: bytes = b"[y/N] ",
            timeout: float = 120) -> tuple[int, str]:
    """The command on a pseudo-terminal; each answer is typed at a prompt."""
    master, slave = os.openpty()
    os.set_blocking(master, True)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
    # A session of its own whose controlling terminal is the pty, as in a
    # shell: Ctrl-C typed there is SIGINT for the command.
    # SIGINT at its default disposition, as for a shell's foreground job, even
    # when this suite was started with it ignored (nohup, "&").
    proc = subprocess.Popen(["env", "--default-signal=INT", "setsid", "--ctty", "--wait",
                             *PGWARDEN, *argv], stdin=slave, stdout=slave, stderr=slave,
                            close_fds=True, env=env)
    os.close(slave)
    pending = list(answers)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            data += chunk
            if pending and data.rstrip(b"\r\n ").endswith(prompt.rstrip()):
                os.write(master, pending.pop(0))
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = data.decode(errors="replace").replace("\r\n", "\n")
    assert "Traceback" not in text, text
    return proc.returncode, text


def databases(cluster: Cluster) -> set[str]:
    with cluster.connect() as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}


@pytest.fixture
def dsn(cluster: Cluster) -> str:
    return cluster.local_dsn(CONTROL_DB)


@pytest.fixture
def shop(cluster: Cluster, dsn: str) -> Iterator[str]:
    """A parent branch with a small table, owned by a login role; every
    regress_cli_* branch is removed afterwards."""
    with cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(OWNER), sql.Literal(OWNER_PASSWORD)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(SHOP), sql.Identifier(OWNER)))
    with cluster.connect(SHOP) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(OWNER)))
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.register_branch(%s)", [SHOP])
    yield SHOP
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.unprotect_branch(name) FROM pgwarden.branch"
                     " WHERE protected AND name LIKE 'regress\\_cli%%'")
        names = [r[0] for r in conn.execute(
            "SELECT name FROM pgwarden.branch WHERE name LIKE 'regress\\_cli%%'"
            " ORDER BY created_at DESC")]
    for name in names:
        Project(dsn).delete_branch(name)
    with cluster.connect() as conn:
        for (db,) in conn.execute("SELECT datname FROM pg_database"
                                  " WHERE datname LIKE 'regress\\_cli%%'").fetchall():
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))


def grow(cluster: Cluster, shop: str) -> None:
    """About 8 MB more in the parent, for progress to measure."""
    with cluster.connect(shop) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(OWNER)))
        conn.execute("INSERT INTO items SELECT g, repeat(md5(g::text), 4)"
                     " FROM generate_series(1001, 41000) g")


@pytest.fixture
def clean_allowlist(admin: psycopg.Connection[Any]) -> Iterator[None]:
    allowlist.reset(admin, force=True)
    allowlist.set_protected_only(admin, False)
    yield
    allowlist.reset(admin, force=True)
    allowlist.set_protected_only(admin, False)
    allowlist.wait_published(admin)


# --------------------------------------------------------------------------- global options
def test_global_options_work_before_and_after_the_command(shop: str, dsn: str) -> None:
    spellings = [
        ["--dsn", dsn, "-o", "json", "branches", "list"],
        ["branches", "list", "--dsn", dsn, "--output", "json"],
        ["--output=json", "branches", "--dsn", dsn, "list"],
        ["-q", "branches", "list", "-o", "json", f"--dsn={dsn}"],
    ]
    results = []
    for argv in spellings:
        out = run(*argv)
        assert out.returncode == 0, (argv, out.stderr)
        results.append([b["name"] for b in json.loads(out.stdout)])
    assert all(r == results[0] for r in results) and shop in results[0]
    # the environment is the default: PG* variables
    out = run("branches", "get", shop, "-o", "json", env={"PGHOST": dsn.split("host=")[1].split()[0],
                                                         "PGPORT": re.search(r"port=(\d+)", dsn)[1],  # type: ignore[index]
                                                         "PGDATABASE": CONTROL_DB,
                                                         "PGUSER": "postgres"})
    assert out.returncode == 0 and json.loads(out.stdout)["name"] == shop


def test_yes_anywhere_and_a_later_value_wins(shop: str, dsn: str, cluster: Cluster) -> None:
    assert run("branches", "create", "regress_cli_a", "--parent", shop, "--dsn", dsn,
               "-q").returncode == 0
    out = run("--yes", "branches", "delete", "regress_cli_a", "--dsn", dsn)
    assert out.returncode == 0, out.stderr
    assert "regress_cli_a" not in databases(cluster)


# --------------------------------------------------------------------------- exit codes, errors
def test_exit_codes_and_one_message_style(shop: str, dsn: str, cluster: Cluster) -> None:
    # 2: usage, a malformed DSN (its text is not repeated), a missing --yes
    out = run("branches", "lst")
    assert out.returncode == 2
    assert out.stderr.startswith("pgwarden: error: argument ACTION: invalid choice: 'lst'")
    assert "HINT: pgwarden branches --help shows the usage" in out.stderr
    out = run("branches", "list", "--dsn", "host=x password=hunter2secret nonsense")
    assert out.returncode == 2 and out.stderr.startswith(
        "pgwarden: error: --dsn is not a valid connection string or URI")
    assert_not_in("hunter2secret", out.stderr, "the error")
    out = run("branches", "list", "--dsn", "postgresql://[::1")
    assert out.returncode == 2
    # 3: unreachable, or the server refused
    out = run("branches", "list", "--dsn", "host=/nonexistent connect_timeout=2")
    assert out.returncode == 3
    assert out.stderr.startswith("pgwarden: error: could not connect to the server: ")
    out = run("endpoints", "set-limit", shop, "0", "--dsn", dsn)
    assert out.returncode == 3
    assert out.stderr.startswith("pgwarden: error: 22023: endpoint ")
    assert "HINT: Use NULL for no limit" in out.stderr
    # 1: the thing named does not exist; a check said no
    out = run("branches", "get", "regress_cli_nope", "--dsn", dsn)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        'pgwarden: error: 42704: branch "regress_cli_nope" does not exist',
        "HINT: pgwarden branches list shows the branches."]
    out = run("branches", "delete", "regress_cli_nope", "--dsn", dsn, "--yes")
    assert out.returncode == 1 and "does not exist" in out.stderr
    assert run("password", "check", input="Summer2024!\n").returncode == 1
    # every message line on stderr has the one prefix style
    for text in (out.stderr,):
        for line in text.splitlines():
            assert re.match(r"(pgwarden: |DETAIL: |HINT: )", line), line


def test_errors_as_json_on_stderr(shop: str, dsn: str) -> None:
    out = run("branches", "get", "regress_cli_nope", "--dsn", dsn, "-o", "json")
    assert out.returncode == 1 and out.stdout == ""
    assert json.loads(out.stderr) == {
        "error": 'branch "regress_cli_nope" does not exist', "sqlstate": "42704",
        "detail": None, "hint": "pgwarden branches list shows the branches."}
    out = run("-o", "json", "branches", "lst")
    err = json.loads(out.stderr)
    assert out.returncode == 2 and set(err) == {"error", "sqlstate", "detail", "hint"}
    out = run("branches", "list", "-o", "json", "--dsn", "host=/nonexistent connect_timeout=2")
    assert out.returncode == 3 and json.loads(out.stderr)["error"].startswith("could not connect")


def test_protected_refusal_names_the_cli_command(shop: str, dsn: str, cluster: Cluster) -> None:
    assert run("branches", "protect", shop, "--dsn", dsn).returncode == 0
    out = run("branches", "delete", shop, "--dsn", dsn)  # refused before anything is asked
    assert out.returncode == 3 and "PW001" in out.stderr and "refusing" not in out.stderr
    for argv in (["branches", "delete", shop], ["branches", "reset", shop]):
        out = run(*argv, "--dsn", dsn, "--yes")
        assert out.returncode == 3
        assert out.stderr.startswith(f'pgwarden: error: PW001: branch "{shop}" is protected')
        assert f"HINT: Unprotect it first: pgwarden branches unprotect {shop} (SQL: SELECT " \
               f"pgwarden.unprotect_branch('{shop}');)" in out.stderr
    assert shop in databases(cluster)


def test_wrong_database_non_admin_and_not_created(shop: str, cluster: Cluster,
                                                  admin: psycopg.Connection[Any]) -> None:
    out = run("branches", "list", "--dsn", cluster.local_dsn("postgres"))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        ('pgwarden: error: 3F000: pgwarden is created in database "regress_control", not in '
         '"postgres": connect to it'),
        "HINT: pass --dsn dbname=regress_control (or set PGDATABASE=regress_control)"]
    admin.execute("CREATE ROLE regress_cli_nobody LOGIN")
    out = run("branches", "list", "--dsn", cluster.local_dsn(CONTROL_DB, user="regress_cli_nobody"))
    assert out.returncode == 3
    assert out.stderr.splitlines() == [
        ('pgwarden: error: 42501: role "regress_cli_nobody" may not manage pgwarden: connect as '
         "a superuser or a member of pgwarden_admin"),
        "HINT: a superuser can run: GRANT pgwarden_admin TO regress_cli_nobody;"]
    out = run("ip-allow", "list", "--dsn", cluster.local_dsn(CONTROL_DB, user="regress_cli_nobody"))
    assert out.returncode == 3 and "may not manage pgwarden" in out.stderr


def test_not_created_anywhere_says_what_to_do(private_cluster: ClusterFactory) -> None:
    c = private_cluster(tls=False)
    out = run("branches", "list", "--dsn", c.local_dsn())
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        ('pgwarden: error: 3F000: pgwarden is not created in database "postgres": run CREATE '
         "EXTENSION pgwarden in the control database"),
        ("HINT: pgwarden install --check says what is missing (the library, the preload, the "
         "extension)")]


# --------------------------------------------------------------------------- confirmation
@pytest.mark.parametrize("argv", [
    ["branches", "delete", "regress_cli_a"],
    ["branches", "reset", "regress_cli_a"],
    ["project", "delete"],
    ["ip-allow", "reset"],
    ["ip-allow", "remove", "192.0.2.1", "--force"],
])
def test_destructive_commands_need_yes_without_a_terminal(
        argv: list[str], shop: str, dsn: str, cluster: Cluster,
        admin: psycopg.Connection[Any], clean_allowlist: None) -> None:
    Project(dsn).create_branch("regress_cli_a", shop, strategy="template")
    allowlist.add(admin, ["192.0.2.1"])
    before = admin.execute("SELECT version FROM pgwarden.policy_version").fetchone()
    out = run(*argv, "--dsn", dsn)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("pgwarden: error: refusing to ")
    assert "HINT: pass --yes to confirm (standard input is not a terminal)" in out.stderr
    assert "regress_cli_a" in databases(cluster)
    assert [e.entry for e in allowlist.list_entries(admin)] == ["192.0.2.1"]
    assert admin.execute("SELECT version FROM pgwarden.policy_version").fetchone() == before


def test_confirmation_on_a_terminal(shop: str, dsn: str, cluster: Cluster) -> None:
    Project(dsn).create_branch("regress_cli_a", shop, strategy="template")
    code, text = run_tty("branches", "delete", "regress_cli_a", "--dsn", dsn, answers=[b"n\n"])
    assert code == 1
    assert ('pgwarden: this will drop branch "regress_cli_a": database "regress_cli_a", '
            "endpoints regress_cli_a.\nContinue? [y/N] ") in text
    assert "pgwarden: error: cancelled: nothing was changed" in text
    assert "regress_cli_a" in databases(cluster)
    code, text = run_tty("branches", "delete", "regress_cli_a", "--dsn", dsn, answers=[b"\x04"])
    assert code == 2 and "no answer (end of input): nothing was changed" in text
    assert "regress_cli_a" in databases(cluster)
    code, text = run_tty("branches", "delete", "regress_cli_a", "--dsn", dsn, answers=[b"\x03"])
    assert code == 1 and "pgwarden: error: cancelled: nothing was changed" in text  # Ctrl-C
    assert "regress_cli_a" in databases(cluster)
    code, text = run_tty("branches", "delete", "regress_cli_a", "--dsn", dsn, answers=[b"y\n"])
    assert code == 0, text
    assert "deleted branch regress_cli_a" in text
    assert re.search(r"pgwarden: deleted branch regress_cli_a \(database regress_cli_a\) in "
                     r"\d+\.\d s", text)
    assert "regress_cli_a" not in databases(cluster)


def test_ctrl_d_at_the_password_prompt() -> None:
    code, text = run_tty("password", "check", answers=[b"\x04"], prompt=b"Password:")
    assert code == 2 and "pgwarden: error: no answer (end of input)" in text


# --------------------------------------------------------------------------- reading never writes
def test_ip_allow_list_never_writes_scope_does(dsn: str, admin: psycopg.Connection[Any],
                                               clean_allowlist: None) -> None:
    before = admin.execute("SELECT version FROM pgwarden.policy_version").fetchone()
    out = run("ip-allow", "list", "--protected-only", "true", "--dsn", dsn)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "pgwarden: error: ip-allow list only reads; it does not change the scope",
        "HINT: pgwarden ip-allow scope --protected-only true switches it"]
    for _ in range(2):
        assert run("ip-allow", "list", "--dsn", dsn).returncode == 0
    assert admin.execute("SELECT version FROM pgwarden.policy_version").fetchone() == before
    assert allowlist.protected_only(admin) is False
    out = run("ip-allow", "scope", "--protected-only", "true", "--dsn", dsn, "-o", "json")
    assert out.returncode == 0 and json.loads(out.stdout) == {"protected_only": True}
    assert allowlist.protected_only(admin) is True
    out = run("ip-allow", "scope", "--dsn", dsn)
    assert out.stdout == "protected only: yes (the allowlist applies to protected branches only)\n"


# --------------------------------------------------------------------------- server messages
def test_server_warnings_reach_stderr(cluster: Cluster, admin: psycopg.Connection[Any],
                                      clean_allowlist: None) -> None:
    """The self-lockout WARNING: an admin over TCP adds an entry that does not
    cover its own address."""
    pw = OWNER_PASSWORD
    admin.execute(sql.SQL("CREATE ROLE regress_cli_admin LOGIN SUPERUSER PASSWORD {}").format(
        sql.Literal(pw)))
    tcp = cluster.tcp_dsn("regress_cli_admin", pw, dbname=CONTROL_DB)
    out = run("ip-allow", "add", "192.0.2.10", "--dsn", tcp)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith(
        "pgwarden: warning: new connections from this session's address will be refused")
    assert "192.0.2.10" in out.stdout
    # --quiet silences progress and notices, never a warning
    allowlist.reset(admin, force=True)
    allowlist.wait_published(admin)
    out = run("ip-allow", "add", "192.0.2.11", "--dsn", tcp, "-q")
    assert out.returncode == 0 and "pgwarden: warning: new connections" in out.stderr


# --------------------------------------------------------------------------- output
def test_tables_are_aligned_and_human(shop: str, dsn: str) -> None:
    assert run("endpoints", "create", shop, "regress_cli_ro", "--kind", "read_only",
               "--dsn", dsn).returncode == 0
    out = run("endpoints", "list", "--branch", shop, "--dsn", dsn)
    lines = out.stdout.splitlines()
    header, rule, rows = lines[0], lines[1], lines[2:]
    assert rule.replace(" ", "") == "-" * len(rule.replace(" ", ""))
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    assert starts == [m.start() for m in re.finditer(r"-+", rule)]
    for row in rows:  # every cell starts where its column starts
        for s in starts:
            assert s == 0 or row[s - 1] == " ", row
    bounds = [*starts[1:], None]
    table = [{name: row[a:b].strip() for name, a, b in zip(header.split(), starts, bounds)}
             for row in rows]
    cells = {r["name"]: r for r in table}["regress_cli_ro"]
    assert cells["suspended"] == "no" and cells["is_default"] == "no"
    assert cells["max_connections"] == "" and cells["kind"] == "read_only"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d", cells["created_at"])
    out = run("branches", "get", shop, "--dsn", dsn)
    fields = dict(line.split(":", 1) for line in out.stdout.splitlines())
    assert fields["protected"].strip() == "no" and fields["name"].strip() == shop


# --------------------------------------------------------------------------- progress
def test_progress_without_a_terminal_both_strategies(shop: str, dsn: str,
                                                     cluster: Cluster) -> None:
    grow(cluster, shop)
    out = run("branches", "create", "regress_cli_t", "--parent", shop, "--strategy", "template",
              "--dsn", dsn)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^pgwarden: template copy: [\d.]+ \w+ of [\d.]+ [kMG]B \(\d+%\)",
                     out.stderr, re.MULTILINE), out.stderr
    assert re.search(r"^pgwarden: created branch regress_cli_t from regress_cli_shop: template "
                     r"copy \([\d.]+ [kMG]B\) in \d+\.\d s$", out.stderr, re.MULTILINE), out.stderr
    out = run("branches", "create", "regress_cli_o", "--parent", shop, "--strategy", "online",
              "--dsn", dsn)
    assert out.returncode == 0, out.stderr
    dump = re.findall(r"^pgwarden: dump: .* of ([\d.]+ [kMG]B) \((\d+)%\)", out.stderr, re.MULTILINE)
    restore = re.findall(r"^pgwarden: restore: .* of ([\d.]+ [kMG]B) \((\d+)%\)(.*)$",
                         out.stderr, re.MULTILINE)
    assert dump and dump[-1][1] == "100", out.stderr
    assert restore and restore[-1][1] == "100", out.stderr
    # the total is the parent's size
    size = Project(dsn)
    with size.connect() as conn:
        parent = conn.execute("SELECT pg_size_pretty(pg_database_size(%s)) AS s",
                              [shop]).fetchone()
    assert parent is not None and restore[-1][0].split()[1] == parent["s"].split()[1]
    assert re.search(r"\d+ s left", out.stderr) or all(r[1] in ("0", "100") for r in restore)
    out = run("branches", "reset", "regress_cli_o", "--yes", "--dsn", dsn)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^pgwarden: reset branch regress_cli_o from regress_cli_shop: \w+ copy"
                     r".* in \d+\.\d s$", out.stderr, re.MULTILINE), out.stderr
    out = run("branches", "reset", "regress_cli_o", "--yes", "--quiet", "--dsn", dsn)
    assert out.returncode == 0 and out.stderr == ""


def test_progress_bar_on_a_terminal(shop: str, dsn: str, cluster: Cluster) -> None:
    grow(cluster, shop)
    code, text = run_tty("branches", "create", "regress_cli_p", "--parent", shop,
                         "--strategy", "online", "--dsn", dsn)
    assert code == 0, text
    # tqdm's bar: "pgwarden: restore: 100%|█████| 7.98M/7.98M [00:01<00:00, 5.1MB/s]"
    assert re.search(r"pgwarden: restore: +100%\|.*\| [\d.]+[kMG]?/[\d.]+[kMG]? \[[\d:]+<[\d:]+, "
                     r" ?[\d.]+[kMG]?B/s\]", text), text
    assert re.search(r"pgwarden: created branch regress_cli_p from regress_cli_shop: online copy",
                     text)


# --------------------------------------------------------------------------- credentials
def test_branch_credentials_work_where_printed(shop: str, dsn: str, cluster: Cluster) -> None:
    assert run("branches", "protect", shop, "--dsn", dsn).returncode == 0
    out = run("branches", "create", "regress_cli_c", "--parent", shop, "--dsn", dsn,
              "--host", "127.0.0.1", "--sslrootcert", str(cluster.ca_cert), "-o", "json")
    assert out.returncode == 0, out.stderr
    (cred,) = json.loads(out.stdout)["credentials"]
    uri = cred["uri"]
    assert uri.startswith(f"postgresql://{OWNER}%40regress_cli_c:")
    assert f"@127.0.0.1:{cluster.port}/regress_cli_c?sslmode=verify-full&sslrootcert=" in uri
    with psycopg.connect(uri) as conn:
        assert conn.execute("SELECT current_user, ssl FROM pg_stat_ssl"
                            " WHERE pid = pg_backend_pid()").fetchone() == (
            f"{OWNER}@regress_cli_c", True)
    # without --host: the DSN goes through a Unix socket, the URI never does
    Project(dsn).delete_branch("regress_cli_c")
    out = run("branches", "create", "regress_cli_c", "--parent", shop, "--dsn", dsn, "-o", "json")
    (cred,) = json.loads(out.stdout)["credentials"]
    assert "@localhost:" in cred["uri"] and "host=%2F" not in cred["uri"]
    assert "sslmode=verify-full" in cred["uri"] and "sslrootcert=" in cred["uri"]
    with psycopg.connect(cred["uri"]) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("regress_cli_c",)


# --------------------------------------------------------------------------- help, completion
def _leaf_parsers() -> list[tuple[str, Any]]:
    import argparse

    from pgwarden.cli import build_parser

    found: list[tuple[str, Any]] = []

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found.append((prefix, parser))
        for action in subs:
            for name, child in action.choices.items():
                walk(f"{prefix} {name}".strip(), child)

    walk("", build_parser())
    return found


def test_every_command_has_help_with_examples_that_parse() -> None:
    from pgwarden.cli import build_parser

    leaves = _leaf_parsers()
    assert len(leaves) >= 30
    for name, parser in leaves:
        text = parser.format_help()
        assert "\nexamples:\n  pgwarden " in text, name
        for example in parser.get_default("_examples"):
            words = shlex.split(example)
            while "|" in words:  # the command of a pipeline is its last part
                words = words[words.index("|") + 1:]
            if ">" in words:
                words = words[:words.index(">")]
            assert words[0] == "pgwarden"
            args = build_parser().parse_args(words[1:])
            assert args.func is parser.get_default("func"), example
    out = run("branches", "create", "--help")
    assert out.returncode == 0 and "pgwarden branches create dev --parent shop" in out.stdout
    assert "global options (before or after the command)" in out.stdout


def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    out = run("completion", "bash")
    assert out.returncode == 0
    script = tmp_path / "pgwarden.bash"
    script.write_text(out.stdout)

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        program = (f"source {shlex.quote(str(script))}\n"
                   f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
                   f"COMP_CWORD={len(words) - 1}\nCOMP_LINE={shlex.quote(line)}\n"
                   f"COMP_POINT={len(line)}\n"
                   "_shtab_pgwarden pgwarden \"${COMP_WORDS[COMP_CWORD]}\" "
                   "\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
                   "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        res = subprocess.run(["bash", "-c", program], capture_output=True, text=True,
                             check=False, timeout=30)
        assert res.returncode == 0, res.stderr
        return res.stdout.split()

    assert "branches" in complete("pgwarden bra")
    assert {"create", "delete", "carry-privileges"} <= set(complete("pgwarden branches "))
    assert "--strategy" in complete("pgwarden branches create --str")
    assert {"template", "online", "auto"} <= set(complete("pgwarden branches create --strategy "))
    assert "scope" in complete("pgwarden ip-allow sc")


def test_zsh_completion_script(tmp_path: Path) -> None:
    out = run("completion", "zsh")
    assert out.returncode == 0 and out.stdout.startswith("#compdef pgwarden")
    script = tmp_path / "_pgwarden"
    script.write_text(out.stdout)
    assert subprocess.run(["zsh", "-n", str(script)], check=False).returncode == 0
    # Load it as compinit would, with zsh's completion helpers replaced by
    # printers: the commands and options each level offers.
    program = ("_describe() { print -l -- \"${(@P)2}\" }; compdef() { : }; _arguments() { : }\n"
               f"source {shlex.quote(str(script))}\n"
               "_shtab_pgwarden_commands; print -r -- SPLIT\n"
               "_shtab_pgwarden_branches_commands; print -r -- SPLIT\n"
               "print -l -- $_shtab_pgwarden_branches_create_options\n")
    res = subprocess.run(["zsh", "-c", program], capture_output=True, text=True, check=False,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    top, branches, create = res.stdout.split("SPLIT\n")
    assert {line.split(":")[0] for line in top.splitlines()} >= {"branches", "ip-allow",
                                                                 "completion", "status"}
    assert {line.split(":")[0] for line in branches.splitlines()} >= {
        "create", "delete", "reset", "carry-privileges"}
    assert "--strategy" in create and "(auto template online)" in create and "--dsn" in create


def test_an_unexpected_failure_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from pgwarden import cli

    def broken(args: argparse.Namespace) -> int:
        raise KeyError("surprise")

    args = argparse.Namespace(func=broken, dsn="", output="table", quiet=False, yes=False)
    assert cli.run(args) == 3
    assert capsys.readouterr().err.splitlines() == [
        "pgwarden: error: internal error: KeyError: 'surprise'",
        "HINT: PGWARDEN_DEBUG=1 shows the traceback; please report it"]
    monkeypatch.setenv("PGWARDEN_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.run(args)


@pytest.mark.parametrize(("server_hint", "cli_hint"), [
    ("Unprotect it first: SELECT pgwarden.unprotect_branch('it''s');",
     ("Unprotect it first: pgwarden branches unprotect 'it'\"'\"'s' (SQL: SELECT "
     "pgwarden.unprotect_branch('it''s');)")),
    ("Unprotect each of them first with SELECT pgwarden.unprotect_branch(name).",
     ("Unprotect each of them first with pgwarden branches unprotect NAME (SQL: SELECT "
     "pgwarden.unprotect_branch(name))")),
    ("SELECT name, branch FROM pgwarden.endpoints lists the endpoints.",
     "pgwarden endpoints list shows the endpoints."),
    ("Suspend it instead: SELECT pgwarden.suspend_endpoint(name);",
     "Suspend it instead: pgwarden endpoints suspend NAME"),
    ("Add an entry covering your address first, or pass force => true to remove them anyway.",
     ("Add an entry covering your address first (pgwarden ip-allow add ADDRESS), or pass "
     "--force to remove them anyway.")),
    ("Create the role first, or pass role => NULL for an entry that applies to every role.",
     "Create the role first, or leave out --role for an entry that applies to every role."),
    ('Did you mean "10.0.0.0/8"?', 'Did you mean "10.0.0.0/8"?'),
])
def test_hints_name_the_cli_command(server_hint: str, cli_hint: str) -> None:
    from pgwarden._cli_util import cli_hint as rewrite
    assert rewrite(server_hint) == cli_hint


def test_the_lockout_refusal_names_force(cluster: Cluster, admin: psycopg.Connection[Any],
                                         clean_allowlist: None) -> None:
    admin.execute(sql.SQL("CREATE ROLE regress_cli_admin LOGIN SUPERUSER PASSWORD {}").format(
        sql.Literal(OWNER_PASSWORD)))
    allowlist.add(admin, ["127.0.0.1", "192.0.2.1"])
    allowlist.wait_published(admin)
    tcp = cluster.tcp_dsn("regress_cli_admin", OWNER_PASSWORD, dbname=CONTROL_DB)
    out = run("ip-allow", "remove", "127.0.0.1", "--dsn", tcp)
    assert out.returncode == 3
    assert out.stderr.startswith("pgwarden: error: 55000: removing these IP allowlist entries "
                                 "would lock out this session's address")
    assert ("HINT: Add an entry covering your address first (pgwarden ip-allow add ADDRESS), "
            "or pass --force to remove them anyway.") in out.stderr
    assert [e.entry for e in allowlist.list_entries(admin)] == ["127.0.0.1", "192.0.2.1"]
