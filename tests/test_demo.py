"""`make demo` runs to the end and shows each refusal it promises."""

from __future__ import annotations

import subprocess
import sys

from support import ROOT

DEMO = ROOT / "scripts" / "demo.py"


def test_demo_walks_through_every_feature() -> None:
    out = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert "UNEXPECTED" not in text
    for promise in [
        'refused: 22023 ERROR: password for role "demo_app" is too weak',
        "without TLS (sslmode=disable): refused",
        "is not in the IP allowlist",
        "from 127.0.0.1 again: admitted (TLS on)",
        'refused: PW001 ERROR: branch "shop" is protected: DROP DATABASE is refused',
        "to database shop (the protected parent): refused",
        "refused: 25006 ERROR: cannot execute DELETE in a read-only transaction",
        "no plaintext password in it: True",
        "Demo finished",
    ]:
        assert promise in text, promise
