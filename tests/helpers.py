"""Assertion helpers that never put a password into test output.

pytest rewrites asserts in test modules and shows the compared values on
failure; these helpers live outside test modules, so their messages are the
only thing printed.
"""

from __future__ import annotations

from pgwarden.sandbox import Cluster


def assert_not_logged(cluster: Cluster, secret: str, label: str = "the password") -> None:
    """The secret appears nowhere in what the server logged during this test."""
    __tracebackhide__ = True
    log = cluster.read_log()[cluster.test_log_start:]
    if secret in log:
        line = next(i for i, text in enumerate(log.splitlines(), 1) if secret in text)
        raise AssertionError(f"{label} appears in the server log (line {line})")


def assert_not_in(secret: str, text: str, where: str) -> None:
    __tracebackhide__ = True
    if secret in text:
        raise AssertionError(f"the password appears in {where}")


def assert_not_logged_after(cluster: Cluster, secret: str, marker: str) -> None:
    """The secret appears nowhere in the log from the last line containing marker on."""
    __tracebackhide__ = True
    if not cluster.wait_for_log(marker):
        raise AssertionError(f"the log has no line containing {marker!r}")
    log = cluster.read_log()
    start = log.rfind("\n", 0, log.rindex(marker)) + 1
    if secret in log[start:]:
        raise AssertionError(f"the password appears in the log after {marker!r}")
