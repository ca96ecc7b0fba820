"""Support code of the test suite: what several feature directories share.

``tests/conftest.py`` loads the fixture modules here as plugins, so a test
names a fixture (``gate``, ``project``, ``private_cluster`` …) without
importing it; plain helpers are imported from their module.
"""

from __future__ import annotations

from pathlib import Path

#: The checkout (tests/ is its child).
ROOT = Path(__file__).resolve().parents[2]
#: The database the suite's shared cluster creates pgwarden in.
CONTROL_DB = "regress_control"
