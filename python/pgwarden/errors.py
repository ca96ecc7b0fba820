"""pgwarden's exceptions: one class per failure, whichever helper meets it.

Every exception a pgwarden helper raises for a pgwarden reason derives from
:class:`PgwardenError` and carries ``sqlstate``, ``detail`` and ``hint``::

    >>> import pgwarden
    >>> from pgwarden.errors import NotFound, ProtectedBranchError
    >>> project = pgwarden.Project("dbname=control")
    >>> try:
    ...     project.delete_branch("main")
    ... except ProtectedBranchError as exc:
    ...     print(exc.sqlstate, exc.hint)
    PW001 Unprotect it first: SELECT pgwarden.unprotect_branch('main');
    >>> try:
    ...     project.branch("nope")
    ... except NotFound as exc:
    ...     print(exc)
    branch "nope" does not exist

An error the server raised is *also* an instance of psycopg's class for its
SQLSTATE (``psycopg.errors.ObjectInUse``, ...), with psycopg's ``diag``: code
written against psycopg keeps working.  Errors found without asking the
server derive from the matching built-in class as well (:class:`NotFound` is a
``LookupError``, :class:`InvalidValue` a ``ValueError``).

Mapping (:func:`from_psycopg`):

========================  =====================================================
class                     SQLSTATE, and the failure
========================  =====================================================
ProtectedBranchError      PW001: a protected branch refuses the change
BranchRoleError           PW002: a branch role may not do that
WeakPasswordError         22023 ``password for role ... is too weak`` (and the
                          other refused-password messages)
LockoutError              55000 ``... would lock out this session's address``
InvalidValue              22023, 22004, 22P02, 42601: a value the server rejects
NotFound                  42704, 3D000: no such branch, endpoint, role, entry,
                          database
AlreadyExists             42710, 42P04: that name is taken
PermissionDenied          42501: the role may not do that
NotInstalledError         3F000/42883/42P01 on pgwarden's objects: pgwarden is
                          not created in the database connected to
ObjectInUse               55006: someone is connected (a template copy)
ReadOnlyError             25006: a read-only endpoint refused a write
StateError                55000 and 0A000: not possible in the current state
ConnectionFailed          08xxx or no connection at all
CopyError                 pg_dump or pg_restore failed
UnsafeCopyError           an online copy would run other roles' code
CarryError                carry_privileges would have given a branch role more
                          than its parent role holds (nothing was carried)
ServerError               any other server error
========================  =====================================================
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg

__all__ = [
    "AlreadyExists",
    "BranchRoleError",
    "CarryError",
    "ConnectionFailed",
    "CopyError",
    "InvalidValue",
    "LockoutError",
    "NotFound",
    "NotInstalledError",
    "ObjectInUse",
    "PermissionDenied",
    "PgwardenError",
    "ProtectedBranchError",
    "ReadOnlyError",
    "ServerError",
    "ServerWarning",
    "StateError",
    "UnsafeCopyError",
    "WeakPasswordError",
    "attach",
    "from_psycopg",
    "helper",
    "notice_handler",
    "server_messages",
    "translated",
]

#: pgwarden's own SQLSTATEs.
PW_PROTECTED_BRANCH = "PW001"
PW_BRANCH_ROLE = "PW002"


class PgwardenError(Exception):
    """Base class of every pgwarden failure.

    ``sqlstate`` is the server's code (``None`` when the server was not
    asked), ``detail`` and ``hint`` its DETAIL and HINT.

    >>> err = PgwardenError("it failed", hint="try again")
    >>> (str(err), err.sqlstate, err.hint)
    ('it failed', None, 'try again')
    """

    #: The SQLSTATE this class stands for when the server did not say.
    default_sqlstate: str | None = None

    def __init__(self, message: str, *, sqlstate: str | None = None, detail: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate or self.default_sqlstate
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        """The error as ``--output json`` prints it on stderr."""
        return {"error": self.message, "sqlstate": self.sqlstate, "detail": self.detail,
                "hint": self.hint}


class ServerError(PgwardenError):
    """The server refused a request for a reason without a class of its own."""


class ProtectedBranchError(ServerError):
    """PW001: the branch is protected (delete, reset, rename, cutting it off...)."""

    default_sqlstate = PW_PROTECTED_BRANCH


class BranchRoleError(ServerError):
    """PW002: a branch role tried something only its branch allows it not to."""

    default_sqlstate = PW_BRANCH_ROLE


class InvalidValue(ServerError, ValueError):
    """A value pgwarden or the server rejects (an allowlist entry, a limit...)."""

    default_sqlstate = "22023"


class WeakPasswordError(InvalidValue):
    """The password policy refused a password (too weak, pre-hashed, MD5)."""


class LockoutError(ServerError):
    """The change would lock out the calling session's own address (``force``)."""

    default_sqlstate = "55000"


class NotFound(ServerError, LookupError):
    """No branch, endpoint, role, allowlist entry or database of that name."""

    default_sqlstate = "42704"


class AlreadyExists(ServerError):
    """That name is already taken."""

    default_sqlstate = "42710"


class PermissionDenied(ServerError):
    """The role may not do that: use a superuser or a member of ``pgwarden_admin``."""

    default_sqlstate = "42501"


class NotInstalledError(ServerError):
    """pgwarden is not created in the database connected to (or not at all)."""

    default_sqlstate = "3F000"


class ObjectInUse(ServerError):
    """Someone is connected to a database that must be idle (a template copy)."""

    default_sqlstate = "55006"


class ReadOnlyError(ServerError):
    """A read-only endpoint refused a write."""

    default_sqlstate = "25006"


class StateError(ServerError):
    """Not possible in the current state (a default endpoint, a root branch...)."""

    default_sqlstate = "55000"


class ConnectionFailed(PgwardenError):
    """The server could not be reached, or refused the connection."""


class CopyError(PgwardenError, RuntimeError):
    """pg_dump or pg_restore failed while copying a branch."""


class UnsafeCopyError(PgwardenError, RuntimeError):
    """An online copy would run other roles' code with the helper's privileges."""


class CarryError(PgwardenError, RuntimeError):
    """carry_privileges found, by OID, that its statements did more than carry
    the parent role's privileges (the branch changed while they ran); it kept
    nothing."""


_BY_SQLSTATE: dict[str, type[PgwardenError]] = {
    PW_PROTECTED_BRANCH: ProtectedBranchError,
    PW_BRANCH_ROLE: BranchRoleError,
    "22023": InvalidValue,
    "22004": InvalidValue,
    "22P02": InvalidValue,
    "42601": InvalidValue,
    "42704": NotFound,
    "3D000": NotFound,
    "42710": AlreadyExists,
    "42P04": AlreadyExists,
    "42501": PermissionDenied,
    "55006": ObjectInUse,
    "25006": ReadOnlyError,
    "55000": StateError,
    "0A000": StateError,
}

_WEAK_PASSWORD = re.compile(
    r"^(password for role .* is too weak|(MD5-hashed|pre-hashed) password for role .* refused"
    r"|password for role .* would be stored as an MD5 hash)")
_LOCKOUT = re.compile(r"would lock out this session's address")
_NOT_INSTALLED_STATES = {"3F000", "42883", "42P01"}
_PGWARDEN_OBJECT = re.compile(r'\bpgwarden\.|schema "pgwarden"')

#: (pgwarden class, psycopg class) -> the class raised, an instance of both.
_MIXED: dict[tuple[type[PgwardenError], type[psycopg.Error]], type[PgwardenError]] = {}


def classify(sqlstate: str | None, message: str) -> type[PgwardenError]:
    """The pgwarden class for a server error (SQLSTATE and primary message).

    >>> classify("PW001", 'branch "main" is protected: DROP DATABASE is refused').__name__
    'ProtectedBranchError'
    >>> classify("22023", 'password for role "app" is too weak').__name__
    'WeakPasswordError'
    """
    if sqlstate is None:
        return ConnectionFailed
    if sqlstate.startswith("08"):
        return ConnectionFailed
    if sqlstate == "22023" and _WEAK_PASSWORD.search(message):
        return WeakPasswordError
    if sqlstate == "55000" and _LOCKOUT.search(message):
        return LockoutError
    if sqlstate in _NOT_INSTALLED_STATES and _PGWARDEN_OBJECT.search(message):
        return NotInstalledError
    return _BY_SQLSTATE.get(sqlstate, ServerError)


def _mixed(cls: type[PgwardenError], base: type[psycopg.Error]) -> type[PgwardenError]:
    key = (cls, base)
    made = _MIXED.get(key)
    if made is None:
        made = type(cls.__name__, (cls, base), {"__module__": __name__,
                                                "__doc__": cls.__doc__})
        _MIXED[key] = made
    return made


def from_psycopg(exc: psycopg.Error) -> PgwardenError:
    """The pgwarden exception for a psycopg error, keeping psycopg's class.

    The result is an instance of the pgwarden class (:func:`classify`) and of
    ``type(exc)``, with the same ``diag``, ``sqlstate``, message, detail and
    hint.  An error that already is a :class:`PgwardenError` is returned as is.

    >>> try:
    ...     conn.execute("SELECT pgwarden.drop_endpoint('nope')")
    ... except psycopg.Error as exc:
    ...     err = from_psycopg(exc)
    >>> type(err).__name__, isinstance(err, psycopg.errors.UndefinedObject), err.sqlstate
    ('NotFound', True, '42704')
    """
    if isinstance(exc, PgwardenError):
        return exc
    diag = exc.diag
    message = diag.message_primary or str(exc).strip() or type(exc).__name__
    sqlstate = diag.sqlstate
    if sqlstate is None and isinstance(exc, psycopg.OperationalError):
        sqlstate = None  # no connection: psycopg has no SQLSTATE for it
    cls = classify(sqlstate, message)
    mixed = _mixed(cls, type(exc))
    new = mixed.__new__(mixed, *exc.args)
    new.__dict__.update(exc.__dict__)  # psycopg's result: diag, pgresult
    new.args = exc.args
    new.message = message
    new.sqlstate = sqlstate
    new.detail = diag.message_detail
    new.hint = diag.message_hint
    new.__traceback__ = exc.__traceback__
    return new


P = ParamSpec("P")
R = TypeVar("R")


def translated(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a helper so that psycopg errors leave it as pgwarden errors.

    >>> @translated
    ... def branch_count(dsn: str) -> int:
    ...     with psycopg.connect(dsn) as conn:
    ...         return conn.execute("SELECT count(*) FROM pgwarden.branches").fetchone()[0]
    >>> branch_count("dbname=postgres")
    Traceback (most recent call last):
    pgwarden.errors.NotInstalledError: relation "pgwarden.branches" does not exist
    """

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except PgwardenError:
            raise
        except psycopg.Error as exc:
            raise from_psycopg(exc) from None

    return run


# --------------------------------------------------------------------------- server messages
class ServerWarning(UserWarning):
    """A WARNING the server sent (the self-lockout warning, ``password_check = warn``).

    Issued through :mod:`warnings`; NOTICE and INFO messages go to the
    :mod:`logging` logger ``pgwarden.server`` instead.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None, detail: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint


_server_log = logging.getLogger("pgwarden.server")
_LEVELS = {"debug": logging.DEBUG, "log": logging.INFO, "info": logging.INFO,
           "notice": logging.INFO, "warning": logging.WARNING}


def notice_handler(diag: psycopg.errors.Diagnostic) -> None:
    """psycopg notice handler: WARNINGs through :mod:`warnings`, the rest to logging.

    >>> conn.add_notice_handler(pgwarden.errors.notice_handler)   # doctest: +SKIP
    """
    severity = (diag.severity_nonlocalized or diag.severity or "NOTICE").lower()
    message = diag.message_primary or ""
    if severity == "warning":
        warnings.warn(ServerWarning(message, sqlstate=diag.sqlstate, detail=diag.message_detail,
                                    hint=diag.message_hint), stacklevel=2)
        return
    _server_log.log(_LEVELS.get(severity, logging.INFO), "%s", message,
                    extra={"pgwarden_severity": severity,
                           "pgwarden_diag": {"detail": diag.message_detail,
                                             "hint": diag.message_hint}})


#: Connections whose server messages always reach warnings/logging (:func:`attach`).
_attached: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()

# Every server WARNING is shown, not only the first from this module's line.
warnings.filterwarnings("always", category=ServerWarning)


def attach(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """Send the server's messages on ``conn`` to warnings/logging for good.

    >>> conn = errors.attach(psycopg.connect("dbname=control"))
    >>> conn.execute("SELECT pgwarden.ip_allow_add(ARRAY['192.0.2.1'])")  # over TCP: warns
    ServerWarning: new connections from this session's address will be refused
    """
    if conn not in _attached:
        conn.add_notice_handler(notice_handler)
        _attached.add(conn)
    return conn


@contextlib.contextmanager
def server_messages(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """While the block runs, the server's messages on ``conn`` reach warnings/logging.

    >>> with server_messages(conn):
    ...     allowlist_entry_added = conn.execute("SELECT pgwarden.ip_allow_add(ARRAY['192.0.2.1'])")
    """
    if conn in _attached:
        yield
        return
    conn.add_notice_handler(notice_handler)
    try:
        yield
    finally:
        conn.remove_notice_handler(notice_handler)


def helper(func: Callable[Concatenate[psycopg.Connection[Any], P], R]
           ) -> Callable[Concatenate[psycopg.Connection[Any], P], R]:
    """Decorate a helper taking a connection first: its server messages reach
    warnings/logging, its psycopg errors leave it as pgwarden errors.

    >>> @helper
    ... def drop(conn: psycopg.Connection[Any], name: str) -> None:
    ...     conn.execute("SELECT pgwarden.drop_endpoint(%s)", [name])
    >>> drop(conn, "nope")
    Traceback (most recent call last):
    pgwarden.errors.NotFound: endpoint "nope" does not exist
    """

    @functools.wraps(func)
    def run(conn: psycopg.Connection[Any], /, *args: P.args, **kwargs: P.kwargs) -> R:
        with server_messages(conn):
            try:
                return func(conn, *args, **kwargs)
            except PgwardenError:
                raise
            except psycopg.Error as exc:
                raise from_psycopg(exc) from None

    return run
