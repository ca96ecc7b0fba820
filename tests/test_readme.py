"""README.md's examples, run against the server: the documentation cannot drift."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from psycopg import errors

from support import ROOT

README = ROOT / "README.md"


def sql_comment_block(start: str) -> dict[str, str]:
    """The `-- ERROR: / -- DETAIL: / -- HINT:` lines after the statement `start`."""
    text = README.read_text()
    i = text.index(start)
    block = text[i + len(start): text.index("```", i)]
    fields: dict[str, str] = {}
    key = None
    for line in block.splitlines():
        m = re.match(r"--\s*(ERROR|DETAIL|HINT):\s*(.*)", line)
        if m:
            key = m.group(1)
            fields[key] = m.group(2).strip()
        elif key and line.startswith("--"):
            fields[key] += " " + line[2:].strip()
    return fields


def test_weak_password_example(admin: psycopg.Connection[Any]) -> None:
    stmt = "CREATE ROLE app LOGIN PASSWORD 'Summer2024!';"
    documented = sql_comment_block(stmt)
    with pytest.raises(errors.InvalidParameterValue) as exc_info:
        admin.execute(stmt)
    diag = exc_info.value.diag
    assert documented == {
        "ERROR": diag.message_primary,
        "DETAIL": diag.message_detail,
        "HINT": diag.message_hint,
    }


def test_entropy_examples(admin: psycopg.Connection[Any]) -> None:
    text = README.read_text()
    examples = re.findall(r"SELECT pgwarden\.entropy_bits\(('[^']*')(?:, ARRAY\['(\w+)'\])?\);"
                          r"\s+-- (?:about (\d+)|context words are nearly free)", text)
    assert len(examples) == 4
    for literal, ctx, about in examples:
        pw = literal.strip("'")
        bits = admin.execute("SELECT pgwarden.entropy_bits(%s, %s)",
                             [pw, [ctx] if ctx else []]).fetchone()[0]
        if about:
            assert abs(bits - int(about)) < 1.0, f"README says about {about}, server says {bits}"
        else:
            alone = admin.execute("SELECT pgwarden.entropy_bits(%s)", [pw]).fetchone()[0]
            assert bits < alone - 10


def test_cli_check_example() -> None:
    text = README.read_text()
    m = re.search(r"Password:\n(rejected: .*)\n(found: .*)\n", text)
    assert m is not None
    out = subprocess.run([sys.executable, "-m", "pgwarden.cli", "password", "check"],
                         input="Summer2024!\n", capture_output=True, text=True, check=False)
    assert out.stdout.splitlines() == [m.group(1), m.group(2)]
