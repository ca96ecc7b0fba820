"""The password policy from Python: the same estimator the server runs."""

from __future__ import annotations

import math
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass

from . import _entropy

__all__ = ["PasswordCheck", "check_password", "entropy_bits", "generate_password"]

#: Role names shorter than this are not searched for inside passwords (as in the server).
MIN_ROLE_NAME_RULE_LEN = 3
GENERATED_PREFIX = "pgw_"
_ALPHABET = string.ascii_lowercase + string.ascii_uppercase + string.digits
_MIN_BITS, _MAX_BITS = 64, 1024


@dataclass(frozen=True)
class PasswordCheck:
    """The verdict on one password.

    >>> v = check_password("Summer2024!")
    >>> bool(v), v.min_bits
    (False, 60.0)
    """

    bits: float
    min_bits: float
    ok: bool
    findings: tuple[str, ...]
    contains_username: bool

    def __bool__(self) -> bool:
        return self.ok


def entropy_bits(password: str, context: Iterable[str] = ()) -> float:
    """Estimated entropy in bits; equals SQL ``pgwarden.entropy_bits(password, context)``.

    >>> round(entropy_bits("correct horse battery staple")) > 60
    True
    """
    return _entropy.estimate(password, tuple(context))[0]


def check_password(
    password: str,
    *,
    username: str | None = None,
    min_bits: float = 60.0,
    context: Iterable[str] = (),
) -> PasswordCheck:
    """Judge a password as the server's policy does for role ``username``.

    The context words are the user name, ``postgres`` and ``context`` (the
    server adds the database name and ``pgwarden.password_banned_words``).

    >>> v = check_password("app2024app", username="app")
    >>> v.ok, v.contains_username
    (False, True)
    """
    words = [*([username] if username else []), "postgres", *context]
    bits, findings = _entropy.findings(password, words)
    has_name = bool(
        username
        and len(username) >= MIN_ROLE_NAME_RULE_LEN
        and _entropy.contains_word_undisguised(password, username)
    )
    if has_name:
        findings = ["the role name", *findings]
    return PasswordCheck(
        bits=bits,
        min_bits=min_bits,
        ok=bits >= min_bits and not has_name,
        findings=tuple(findings),
        contains_username=has_name,
    )


def generate_password(bits: int = 80) -> str:
    """A random ``pgw_…`` password with at least ``bits`` bits, drawn with :mod:`secrets`.

    Always accepted by the default policy (a draw the estimator scores below
    60 bits, vanishingly rare, is drawn again).

    >>> pw = generate_password(bits=128)
    >>> pw.startswith("pgw_"), check_password(pw).ok
    (True, True)
    """
    if not _MIN_BITS <= bits <= _MAX_BITS:
        raise ValueError(f"bits must be between {_MIN_BITS} and {_MAX_BITS}, not {bits}")
    nchars = math.ceil(bits / math.log2(len(_ALPHABET)))
    while True:
        candidate = GENERATED_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(nchars))
        if entropy_bits(candidate) >= 60.0:
            return candidate
