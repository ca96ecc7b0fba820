"""pgwarden: the security model of managed Postgres for self-hosted PostgreSQL.

The password estimator here is the same C code the server extension runs, so
``pgwarden.entropy_bits(pw)`` equals SQL ``pgwarden.entropy_bits(pw)``.

>>> import pgwarden
>>> pgwarden.check_password("Summer2024!").ok
False
>>> with pgwarden.Project("dbname=control") as project:    # doctest: +SKIP
...     project.protect("shop")

:class:`Project` (and :class:`AsyncProject` for asyncio) drive branches,
endpoints and branch roles; :mod:`pgwarden.allowlist` the IP allowlist;
:mod:`pgwarden.errors` holds the exceptions every helper raises.
"""

from . import allowlist, audit, errors
from .allowlist import AllowlistEntry, PolicyStatus
from .async_project import AsyncProject
from .audit import AuditEvent, GateCounter
from .branches import (
    Branch,
    BranchCreated,
    BranchRole,
    CopyStrategy,
    Credential,
    Endpoint,
    EndpointKind,
    Project,
)
from .errors import PgwardenError
from .password import PasswordCheck, check_password, entropy_bits, generate_password

__version__ = "0.2.0"

__all__ = [
    "AllowlistEntry",
    "AsyncProject",
    "AuditEvent",
    "Branch",
    "BranchCreated",
    "BranchRole",
    "CopyStrategy",
    "Credential",
    "Endpoint",
    "EndpointKind",
    "GateCounter",
    "PasswordCheck",
    "PgwardenError",
    "PolicyStatus",
    "Project",
    "__version__",
    "allowlist",
    "audit",
    "check_password",
    "entropy_bits",
    "errors",
    "generate_password",
]
