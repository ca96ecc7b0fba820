#!/usr/bin/env python3
"""Per-major counts of the suite from the JUnit files majors.sh and .ci/run leave.

usage: junit_summary.py RESULTS_DIR MAJOR...
Prints one line per major (and the Debian package's, when .ci/run left
deb.rc) and a closing total; exits 1 when a major has no results, ran no
test, or had a failure or error, or the package failed.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(xml: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped), errors counted as failures."""
    tests = failed = skipped = 0
    for suite in ET.parse(xml).getroot().iter("testsuite"):
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def main(argv: list[str]) -> int:
    results = Path(argv[1])
    ok = True
    total = [0, 0, 0]
    print("=== the whole suite per PostgreSQL major ===")
    for major in argv[2:]:
        xml = results / f"pg{major}.xml"
        t = results / f"pg{major}.time"
        rc_file = results / f"pg{major}.rc"
        took = f", {t.read_text().strip()} s" if t.exists() else ""
        rc = rc_file.read_text().strip() if rc_file.exists() else "?"
        if not xml.exists():
            print(f"PostgreSQL {major}: no results (exit {rc}{took})")
            ok = False
            continue
        passed, failed, skipped = counts(xml)
        total = [total[0] + passed, total[1] + failed, total[2] + skipped]
        print(f"PostgreSQL {major}: {passed} passed, {failed} failed, {skipped} skipped"
              f" (exit {rc}{took})")
        if failed or passed == 0 or rc != "0":
            ok = False
    deb = results / "deb.rc"
    if deb.exists():
        rc = deb.read_text().strip()
        t = results / "deb.time"
        took = f", {t.read_text().strip()} s" if t.exists() else ""
        passed = rc == "0"
        print(f"Debian package (build with installcheck, install, autopkgtest):"
              f" {'passed' if passed else 'FAILED'} (exit {rc}{took})")
        total = [total[0] + passed, total[1] + (not passed), total[2]]
        ok = ok and passed
    print(f"total: {total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
