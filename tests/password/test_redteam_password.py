"""Red-team findings on the password policy, each pinned by a test.

An ordinary CREATEROLE role must not be able to store a weak secret by any
route: the policy judges what SCRAM actually stores (the SASLprep form of
the password), and refuses MD5 storage chosen through password_encryption.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgwarden.sandbox import Cluster


def random_password(n: int = 22) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


@pytest.fixture
def creator(admin: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """An ordinary CREATEROLE role (not a superuser), over the Unix socket."""
    admin.execute(sql.SQL("CREATE ROLE regress_rt_creator LOGIN CREATEROLE PASSWORD {}")
                  .format(sql.Literal(random_password())))
    admin.execute("CREATE ROLE regress_rt_victim LOGIN")
    admin.execute("GRANT regress_rt_victim TO regress_rt_creator WITH ADMIN OPTION")
    dsn = admin.info.dsn
    with psycopg.connect(dsn, user="regress_rt_creator", autocommit=True) as conn:
        yield conn


def fullwidth(s: str) -> str:
    """The full-width form of ASCII letters, digits and punctuation (NFKC undoes it)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


# SASLprep turns each of these into a weak password; the raw text looks strong.
SASLPREP_DISGUISES: dict[str, Callable[[str], str]] = {
    "fullwidth": lambda w: fullwidth(w),
    "soft-hyphens": lambda w: "\u00ad".join(w),
    "invisible-padding": lambda w: w[:4] + "\u200b\u2060\ufeff\u00ad" * 8 + w[4:],
}


@pytest.mark.parametrize("disguise", list(SASLPREP_DISGUISES))
def test_password_is_judged_in_the_form_scram_stores(creator: psycopg.Connection[Any],
                                                     disguise: str) -> None:
    weak = "password123"
    disguised = SASLPREP_DISGUISES[disguise](weak)
    with pytest.raises(errors.InvalidParameterValue) as exc:
        creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}")
                        .format(sql.Literal(disguised)))
    assert "too weak" in str(exc.value)


def test_disguised_weak_password_cannot_be_used_to_log_in(admin: psycopg.Connection[Any],
                                                          creator: psycopg.Connection[Any],
                                                          cluster: Cluster) -> None:
    """End to end: had it been stored, 'password123' would open the role over TLS."""
    with pytest.raises(errors.InvalidParameterValue):
        creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}")
                        .format(sql.Literal(fullwidth("password123"))))
    secret = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'regress_rt_victim'"
                           ).fetchone()[0]  # type: ignore[index]
    assert secret is None


def test_strong_non_ascii_password_still_accepted(creator: psycopg.Connection[Any]) -> None:
    # Normalisation must not punish genuinely random Unicode passwords.
    pw = "Ωж" + random_password(20) + "ñ€"
    creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}").format(sql.Literal(pw)))


def test_md5_storage_chosen_by_an_ordinary_role_is_refused(
        admin: psycopg.Connection[Any], creator: psycopg.Connection[Any]) -> None:
    creator.execute("SET password_encryption = 'md5'")
    with pytest.raises(errors.InvalidParameterValue) as exc:
        creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}")
                        .format(sql.Literal(random_password())))
    assert "MD5" in str(exc.value)
    stored = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'regress_rt_victim'"
                           ).fetchone()[0]  # type: ignore[index]
    assert stored is None
    creator.execute("RESET password_encryption")
    creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}")
                    .format(sql.Literal(random_password())))


@pytest.mark.parametrize("how", [
    "SET pgwarden.password_check = off",
    "SET LOCAL pgwarden.min_password_entropy = 0",
    "SELECT set_config('pgwarden.password_check', 'warn', false)",
    "ALTER ROLE regress_rt_creator SET pgwarden.password_check = off",
    "ALTER ROLE regress_rt_victim SET pgwarden.min_password_entropy = 1",
    "ALTER DATABASE regress_control SET pgwarden.password_check = off",
    "ALTER ROLE regress_rt_creator IN DATABASE regress_control SET pgwarden.hashed_passwords = allow",
    ("CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql"
     " SET pgwarden.password_check = off AS 'SELECT 1'"),
    "SET pgwarden.password_banned_words = ''",
])
def test_ordinary_role_cannot_lower_the_policy(creator: psycopg.Connection[Any], how: str) -> None:
    with pytest.raises(psycopg.Error) as exc, creator.transaction():
        creator.execute(how)
    assert exc.value.sqlstate in ("42501", "42704"), exc.value.sqlstate


def test_very_long_password_is_judged_quickly(creator: psycopg.Connection[Any]) -> None:
    import time
    weak = "a" * (1 << 20)
    t0 = time.monotonic()
    with pytest.raises(errors.InvalidParameterValue):
        creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}").format(sql.Literal(weak)))
    assert time.monotonic() - t0 < 5


# The estimator prices these as random characters; a cracker's rules undo them.
CHEAP_DISGUISES = {
    "dash-between": "p-a-s-s-w-o-r-d-1-2-3",
    "dot-between": "p.a.s.s.w.o.r.d.2.0.2.4",
    "space-between": "p a s s w o r d 1 2 3",
    "leading-separator": "_s_u_m_m_e_r_2_0_2_4",
    "doubled": "ppaasssswwoorrdd112233",
    "doubled-and-separated": "pp--aa--ss--ww--oo--rr--dd",
}


@pytest.mark.parametrize("disguise", list(CHEAP_DISGUISES))
def test_separator_and_doubling_disguises_are_seen_through(creator: psycopg.Connection[Any],
                                                           disguise: str) -> None:
    with pytest.raises(errors.InvalidParameterValue) as exc:
        creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}")
                        .format(sql.Literal(CHEAP_DISGUISES[disguise])))
    assert "too weak" in str(exc.value)


def test_role_name_behind_separators_is_refused(creator: psycopg.Connection[Any]) -> None:
    pw = "-".join("regress_rt_victim" + random_password(12))
    with pytest.raises(errors.InvalidParameterValue) as exc:
        creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}").format(sql.Literal(pw)))
    assert "contains the role name" in (exc.value.diag.message_detail or "")


@pytest.mark.parametrize("shape", ["dash-between", "doubled"])
def test_random_characters_in_those_shapes_are_still_accepted(creator: psycopg.Connection[Any],
                                                              shape: str) -> None:
    base = random_password(22)
    pw = "-".join(base) if shape == "dash-between" else "".join(c * 2 for c in base)
    creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}").format(sql.Literal(pw)))


def test_md5_lookalike_plaintext_is_treated_as_a_hash(creator: psycopg.Connection[Any]) -> None:
    # PostgreSQL stores "md5" + 32 hex digits as a hash: pgwarden must refuse it.
    lookalike = "md5" + secrets.token_hex(16)
    with pytest.raises(errors.InvalidParameterValue) as exc:
        creator.execute(sql.SQL("ALTER ROLE regress_rt_victim PASSWORD {}")
                        .format(sql.Literal(lookalike)))
    assert "MD5" in str(exc.value)

