"""`make installcheck`: the pg_regress suite (test/sql, test/expected) against a
running server that preloads pgwarden, named by PGHOST and PGPORT — what
packagers run (Debian's pg_buildext, PGXN testers)."""

from __future__ import annotations

import os
import subprocess

from support import ROOT
from support.clusters import ClusterFactory


def test_make_installcheck_passes_against_a_running_server(private_cluster: ClusterFactory) -> None:
    c = private_cluster(tls=False)
    env = dict(os.environ, PGHOST=str(c.sockdir), PGPORT=str(c.port), PGUSER="postgres")
    done = subprocess.run(["make", "-s", "installcheck"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    diffs = ROOT / "regression.diffs"
    detail = diffs.read_text()[-4000:] if diffs.exists() else done.stdout[-2000:]
    assert done.returncode == 0, detail
    assert "tests passed" in done.stdout
    # The suite leaves the server as it found it.
    with c.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'regress%'"
                            ).fetchone() == (0,)
