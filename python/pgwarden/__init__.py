"""pgwarden: the security model of managed Postgres for self-hosted PostgreSQL.

The password estimator here is the same C code the server extension runs, so
``pgwarden.entropy_bits(pw)`` equals SQL ``pgwarden.entropy_bits(pw)``.
"""

from . import allowlist, audit
from .allowlist import AllowlistEntry, PolicyStatus
from .audit import AuditEvent, GateCounter
from .branches import Branch, BranchCreated, BranchRole, Credential, Endpoint, Project
from .password import PasswordCheck, check_password, entropy_bits, generate_password

__version__ = "0.2.0"

__all__ = [
    "AllowlistEntry",
    "AuditEvent",
    "Branch",
    "BranchCreated",
    "BranchRole",
    "Credential",
    "Endpoint",
    "GateCounter",
    "PasswordCheck",
    "PolicyStatus",
    "Project",
    "__version__",
    "allowlist",
    "audit",
    "check_password",
    "entropy_bits",
    "generate_password",
]
