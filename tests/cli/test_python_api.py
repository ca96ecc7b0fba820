"""The Python side: same numbers as SQL, generated passwords, the CLI."""

from __future__ import annotations

import random
import string
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

import pgwarden
from support.helpers import assert_not_in


def corpus(n: int, seed: int = 7) -> list[str]:
    """Mixed inputs: random strings of every class, words with decorations, Unicode."""
    rng = random.Random(seed)
    words = ["password", "dragon", "monkey", "summer", "correct", "horse", "battery",
             "staple", "qwerty", "letmein", "welcome", "admin", "Zürich", "пароль", "密码"]
    pools = [string.ascii_lowercase, string.ascii_letters + string.digits, string.digits,
             string.printable[:94], "äöüßéèçñ€", "日本語の文字列", " "]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            pool = rng.choice(pools) + rng.choice(pools)
            out.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 40))))
        elif kind == 1:
            w = rng.choice(words)
            out.append(rng.choice([w, w.capitalize(), w.upper()]) + str(rng.randint(0, 2030))
                       + rng.choice(["", "!", "?", "#"]))
        elif kind == 2:
            out.append(rng.choice("-_ .").join(rng.choice(words) for _ in range(rng.randint(1, 5))))
        else:
            out.append("".join(rng.choice("qwertyuiopasdfghjkl1234567890") for _ in range(
                rng.randint(4, 16))) * rng.randint(1, 3))
    return out


def test_sql_and_python_return_identical_bits(admin: psycopg.Connection[Any]) -> None:
    inputs = corpus(3000)
    ctx = ["regress_role", "regress_db"]
    rows = admin.execute(
        "SELECT pgwarden.entropy_bits(p, %s) FROM unnest(%s::text[]) WITH ORDINALITY AS t(p, i)"
        " ORDER BY i", [ctx, inputs]).fetchall()
    server = [r[0] for r in rows]
    local = [pgwarden.entropy_bits(p, ctx) for p in inputs]
    mismatches = [i for i, (a, b) in enumerate(zip(server, local)) if a != b]
    assert len(server) == len(inputs)
    assert mismatches == [], f"{len(mismatches)} of {len(inputs)} inputs differ"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # one connection is fine
@given(bits=st.integers(min_value=64, max_value=256))
def test_generated_passwords_always_accepted(admin: psycopg.Connection[Any], bits: int) -> None:
    for pw in (pgwarden.generate_password(bits),
               admin.execute("SELECT pgwarden.generate_password(%s)", [bits]).fetchone()[0]):
        assert pw.startswith("pgw_")
        assert pgwarden.entropy_bits(pw) >= 60
        admin.execute(sql.SQL("CREATE ROLE regress_gen PASSWORD {}").format(sql.Literal(pw)))
        admin.execute("DROP ROLE regress_gen")


def test_check_password_verdicts() -> None:
    weak = pgwarden.check_password("Summer2024!")
    assert not weak.ok and weak.bits < 60 and weak.findings
    strong = pgwarden.check_password(pgwarden.generate_password(80))
    assert strong.ok and strong.bits >= 60
    named = pgwarden.check_password(pgwarden.generate_password(80) + "Alice", username="alice")
    assert not named.ok and named.contains_username
    assert named.findings[0] == "the role name"
    stricter = pgwarden.check_password(pgwarden.generate_password(80), min_bits=200)
    assert not stricter.ok


def test_invalid_utf8_is_an_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="not valid UTF-8"):
        pgwarden.entropy_bits("abc\udcff")


@pytest.mark.parametrize("bits", [0, 63, 1025])
def test_generate_password_bounds(bits: int) -> None:
    with pytest.raises(ValueError, match="between 64 and 1024"):
        pgwarden.generate_password(bits)


def cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgwarden.cli", *args], capture_output=True,
                          text=True, input=input, check=False)


def test_cli_password_check_reads_stdin() -> None:
    out = cli("password", "check", input="Summer2024!\n")
    assert out.returncode == 1
    assert out.stdout.startswith("rejected: ")
    assert_not_in("Summer2024!", out.stdout + out.stderr, "the command output")
    pw = pgwarden.generate_password()
    out = cli("password", "check", "--output", "json", input=pw + "\n")
    assert out.returncode == 0
    assert '"ok": true' in out.stdout
    assert_not_in(pw, out.stdout + out.stderr, "the command output")


def test_cli_password_check_takes_no_password_argument() -> None:
    out = cli("password", "check", "hunter2hunter2")
    assert out.returncode == 2
    assert "unrecognized arguments" in out.stderr


def test_cli_password_generate() -> None:
    out = cli("password", "generate", "--bits", "128")
    assert out.returncode == 0
    pw = out.stdout.strip()
    assert pw.startswith("pgw_") and len(pw) == 4 + 22
    assert cli("password", "generate", "--bits", "8").returncode == 2


def test_sql_and_python_agree_on_the_estimator_v2_shapes(admin: psycopg.Connection[Any]) -> None:
    # words of many languages, other layouts, disguises undone in the core,
    # counters, constants, other scripts: one figure from SQL and Python
    rng = random.Random(21)
    inputs = ["Willkommen1!", "Atcnbdfkm02", "=)àç_è-('\"é", "4p5y6f7g8c9r2024",
              "pa-ss-wo-rd-12-34-56", "Pp@@ssww00rrdd!!", "pp--aa--ss--ww--oo--rr--dd",
              "abc123abc124abc125abc126", "2718281828459045235", "7.ottobre.1962",
              "endocrinologistENDOCRINOLOGIST", "thequickbrownfoxjumpsoverthelazydog",
              "Glückwünsche2024", "πεταλούδα1", "фестиваль"]
    inputs += ["".join(chr(0xAC00 + rng.randrange(11172)) for _ in range(5)) for _ in range(50)]
    inputs += ["-".join("".join(rng.choice(string.ascii_lowercase + string.digits)
                                for _ in range(5)) for _ in range(3)) for _ in range(50)]
    ctx = ["regress_role", "regress_db"]
    rows = admin.execute(
        "SELECT pgwarden.entropy_bits(p, %s) FROM unnest(%s::text[]) WITH ORDINALITY AS t(p, i)"
        " ORDER BY i", [ctx, inputs]).fetchall()
    server = [r[0] for r in rows]
    local = [pgwarden.entropy_bits(p, ctx) for p in inputs]
    mismatches = [i for i, (a, b) in enumerate(zip(server, local)) if a != b]
    assert mismatches == [], f"{len(mismatches)} of {len(inputs)} inputs differ"


def test_python_policy_names_the_findings_the_server_reports(
        admin: psycopg.Connection[Any]) -> None:
    check = pgwarden.check_password("Willkommen1!", username="regress_pyfind")
    assert not check.ok and "a German word" in check.findings
    admin.execute("DROP ROLE IF EXISTS regress_pyfind")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        admin.execute("CREATE ROLE regress_pyfind LOGIN PASSWORD 'Willkommen1!'")
    assert "a German word" in (exc.value.diag.message_detail or "")
    assert pgwarden.check_password("r-e-g-r-e-s-s-_-p-y-f-i-n-d-7-Q-z",
                                   username="regress_pyfind").contains_username
