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


def gate_detail(cluster: Cluster, *needles: str, timeout: float = 5.0) -> str:
    """The DETAIL the gate logged for a refusal during this test, containing every needle.

    A refused client reads only a short reason ("address not allowed", ...);
    the address, role, database and the rule's own sentence go to the server
    log, on the DETAIL line that follows the FATAL one.
    """
    __tracebackhide__ = True
    import time

    deadline = time.monotonic() + timeout
    while True:
        lines = cluster.read_log()[cluster.test_log_start:].splitlines()
        for line in lines:
            if "DETAIL:  Connection from " in line and all(n in line for n in needles):
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no gate refusal with {needles!r} in the server log")
        time.sleep(0.05)
