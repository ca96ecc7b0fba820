"""Every `--output json` example in README.md's command reference has the shape
of the real output: the same fields, JSON types, ISO 8601 timestamps.

The README's examples use the names of a tutorial (shop, dev, app, ...); the
scenario below runs each documented command, with those names mapped to
regress_* objects, in an order that makes every example meaningful, and
compares the shapes.  Every command with JSON output must have an example.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from pgwarden import allowlist
from pgwarden.branches import Project
from pgwarden.sandbox import Cluster
from support import CONTROL_DB, ROOT
from support.clusters import ClusterFactory

README = ROOT / "README.md"

#: Commands whose output is text only (documented as such).
TEXT_ONLY = {"completion", "metrics"}

#: A reference example: one command line ending in ``-o json``, then its output.
EXAMPLE = re.compile(r"```console\n\$ (pgwarden [^\n]* -o json)\n([\[{].*?)```", re.DOTALL)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")

NAMES = {"shop": "regress_doc_shop", "dev": "regress_doc_dev", "dev-ro": "regress_doc_ro",
         "app": "regress_doc_app"}
APP_PASSWORD = "pgw_Dq8vN3xK7pLw2RtY5mB9c"


def readme_examples() -> list[tuple[str, Any]]:
    """(command line, parsed JSON) of every JSON example in the CLI section."""
    text = README.read_text()
    start = text.index("## The `pgwarden` command")
    end = text.find("\n## ", start + 10)
    section = text[start:end if end > 0 else None]
    return [(cmd.strip(), json.loads(body)) for cmd, body in EXAMPLE.findall(section)]


def shape(value: Any) -> Any:
    """The JSON type structure of a value; timestamps are their own type."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        shapes: list[Any] = []
        for v in value:
            if shape(v) not in shapes:
                shapes.append(shape(v))
        return shapes
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, str) and TIMESTAMP.fullmatch(value):
        return "timestamp"
    return "string"


def same_shape(documented: Any, real: Any, where: str = "") -> list[str]:
    """Differences between a documented shape and a real one."""
    if isinstance(documented, dict) and isinstance(real, dict):
        diffs = [f"{where}.{k}: documented, not in the output" for k in documented
                 if k not in real]
        diffs += [f"{where}.{k}: in the output, not documented" for k in real
                  if k not in documented]
        for k in documented:
            if k in real:
                diffs += same_shape(documented[k], real[k], f"{where}.{k}")
        return diffs
    if isinstance(documented, list) and isinstance(real, list):
        if bool(documented) != bool(real):
            return [f"{where}: documented {documented!r}, output {real!r}"]
        diffs = []
        for r in real:
            if not any(not same_shape(d, r) for d in documented):
                diffs += same_shape(documented[0], r, f"{where}[]")
        return diffs
    return [] if documented == real else [f"{where}: documented {documented}, output {real}"]


@pytest.fixture
def doc_state(cluster: Cluster, tmp_path: Path) -> Iterator[dict[str, str]]:
    with cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE regress_doc_app LOGIN PASSWORD {}").format(
            sql.Literal(APP_PASSWORD)))
        conn.execute("CREATE DATABASE regress_doc_shop OWNER regress_doc_app")
    with cluster.connect("regress_doc_shop") as conn:
        conn.execute("SET ROLE regress_doc_app")
        conn.execute("CREATE TABLE items (id int PRIMARY KEY)")
        conn.execute("INSERT INTO items SELECT generate_series(1, 1000)")
    pgdata = tmp_path / "main"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("15\n")
    (pgdata / "postgresql.conf").write_text("")
    paths = {"/var/lib/postgresql/15/main": str(pgdata), "ca.crt": str(cluster.ca_cert)}
    with cluster.connect(CONTROL_DB) as conn:
        allowlist.reset(conn, force=True)
    yield paths
    with cluster.connect(CONTROL_DB) as conn:
        allowlist.reset(conn, force=True)
        allowlist.set_protected_only(conn, False)
        conn.execute("SELECT pgwarden.unprotect_branch(name) FROM pgwarden.branch"
                     " WHERE protected AND name LIKE 'regress\\_doc%%'")
        names = [r[0] for r in conn.execute(
            "SELECT name FROM pgwarden.branch WHERE name LIKE 'regress\\_doc%%'"
            " ORDER BY created_at DESC")]
    for name in names:
        Project(cluster.local_dsn(CONTROL_DB)).delete_branch(name)
    with cluster.connect() as conn:
        for (db,) in conn.execute("SELECT datname FROM pg_database"
                                  " WHERE datname LIKE 'regress\\_doc%%'").fetchall():
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))


def fake_pg_config(tmp_path: Path) -> Path:
    """A pg_config naming an empty installation tree: pgwarden install writes there."""
    import pgwarden

    built = (Path(pgwarden.__file__).parent / "_pg" / "PG_VERSION").read_text().strip()
    root = tmp_path / "pgroot"
    (root / "lib").mkdir(parents=True)
    (root / "share" / "extension").mkdir(parents=True)
    exe = tmp_path / "pg_config"
    exe.write_text("#!/bin/sh\ncase \"$1\" in\n"
                   f"  --version) echo '{built}';;\n"
                   f"  --pkglibdir) echo '{root / 'lib'}';;\n"
                   f"  --sharedir) echo '{root / 'share'}';;\n"
                   "esac\n")
    exe.chmod(0o755)
    return exe


def run_documented(line: str, *, dsn: str, paths: dict[str, str],
                   monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """Run a README command line in this process (test_cli.py drives the
    command as a subprocess; here only the output's shape matters)."""
    from pgwarden import cli

    words = shlex.split(line)[1:]
    words = [paths.get(w, NAMES.get(w, w)) for w in words]
    monkeypatch.setenv("PGWARDEN_SSLROOTCERT", paths["ca.crt"])
    monkeypatch.setattr(sys, "stdin", io.StringIO("Summer2024!\n" if "password check" in line
                                                  else ""))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([*words, "--dsn", dsn])
    return code, out.getvalue(), err.getvalue()


def test_readme_json_examples_match_real_output(
        private_cluster: ClusterFactory, cluster: Cluster, doc_state: dict[str, str],
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    examples = readme_examples()
    documented = {cmd: body for cmd, body in examples}
    assert len(documented) == len(examples), "a command is documented twice"
    paths = {**doc_state, "/usr/lib/postgresql/15/bin/pg_config": str(fake_pg_config(tmp_path))}
    dsn = cluster.local_dsn(CONTROL_DB)
    # The order the examples make sense in; each README example must be here.
    scenario = [
        "pgwarden password check --username app -o json",
        "pgwarden password generate -o json",
        "pgwarden install --pg-config /usr/lib/postgresql/15/bin/pg_config -o json",
        "pgwarden uninstall --pg-config /usr/lib/postgresql/15/bin/pg_config -o json",
        "pgwarden install --check -o json",
        "pgwarden tls init --pgdata /var/lib/postgresql/15/main --hostname db.example.com -o json",
        "pgwarden tls ca --pgdata /var/lib/postgresql/15/main -o json",
        "pgwarden branches register shop -o json",
        "pgwarden branches protect shop -o json",
        "pgwarden branches create dev --parent shop --host db.example.com -o json",
        "pgwarden branches get dev -o json",
        "pgwarden branches list -o json",
        "pgwarden branches carry-privileges dev -o json",
        "pgwarden endpoints create dev dev-ro --kind read_only --max-connections 10 -o json",
        "pgwarden endpoints list --branch dev -o json",
        "pgwarden endpoints suspend dev-ro -o json",
        "pgwarden endpoints resume dev-ro -o json",
        "pgwarden endpoints set-limit dev-ro none -o json",
        "pgwarden roles list --branch dev -o json",
        ("pgwarden connection-string dev --role app --endpoint dev-ro --host db.example.com "
         "--sslrootcert ca.crt -o json"),
        "pgwarden branches reset dev --yes -o json",
        "pgwarden endpoints delete dev-ro -o json",
        "pgwarden branches unprotect shop -o json",
        "pgwarden branches delete dev --yes -o json",
        "pgwarden branches recover -o json",
        "pgwarden ip-allow add 203.0.113.7 10.0.0.0/8 --comment office -o json",
        "pgwarden ip-allow list -o json",
        "pgwarden ip-allow scope --protected-only true -o json",
        "pgwarden ip-allow check 203.0.113.7 --role app --database shop -o json",
        "pgwarden ip-allow remove 10.0.0.0/8 -o json",
        "pgwarden audit list --action allowlist.remove --limit 1 -o json",
        "pgwarden ip-allow reset --yes -o json",
        "pgwarden status -o json",
    ]
    seen: dict[str, Any] = {}
    for line in scenario:
        code, out, err = run_documented(line, dsn=dsn, paths=paths, monkeypatch=monkeypatch)
        assert "Traceback" not in err, err
        assert code in (0, 1), (line, err)
        seen[line] = json.loads(out)
        if os.environ.get("PGWARDEN_DUMP_EXAMPLES"):
            print(f"$ {line}\n{out}")
    # project delete drops the extension: on a cluster of its own
    c = private_cluster(tls=False)
    with c.connect() as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        conn.execute("CREATE DATABASE regress_doc_dev")
        conn.execute("SELECT pgwarden.register_branch('regress_doc_dev', NULL, 'dev')")
    line = "pgwarden project delete --yes -o json"
    code, out, err = run_documented(line, dsn=c.local_dsn(), paths=paths,
                                     monkeypatch=monkeypatch)
    assert code == 0, err
    seen[line] = json.loads(out)
    missing = [cmd for cmd in documented if cmd not in seen]
    assert missing == [], "README examples the scenario does not run"
    undocumented = [cmd for cmd in seen if cmd not in documented]
    assert undocumented == [], "commands without a README example"
    problems = {cmd: same_shape(shape(documented[cmd]), shape(seen[cmd])) for cmd in seen}
    assert {cmd: p for cmd, p in problems.items() if p} == {}


def test_every_json_command_is_documented() -> None:
    from test_cli import _leaf_parsers

    documented = {" ".join(w for w in shlex.split(cmd)[1:] if not w.startswith("-"))
                  for cmd, _ in readme_examples()}
    for name, _parser in _leaf_parsers():
        if name.split()[0] in TEXT_ONLY:
            continue
        assert any(d.startswith(name) for d in documented), f"pgwarden {name} has no JSON example"
