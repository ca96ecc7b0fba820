"""`pgwarden completion bash|zsh`: shell completion scripts, generated from the parser.

::

    pgwarden completion bash > /etc/bash_completion.d/pgwarden       # or: source <(pgwarden completion bash)
    pgwarden completion zsh > "${fpath[1]}/_pgwarden"

The scripts are made by shtab from the same parser the command runs, so
every command, option and choice completes, and nothing needs Python at
completion time.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._cli_util import EXIT_OK, add_command

SHELLS = ("bash", "zsh")


def register(sub: Any) -> None:
    p = add_command(sub, "completion", help="print a bash or zsh completion script",
                    example=["pgwarden completion bash > /etc/bash_completion.d/pgwarden",
                             'pgwarden completion zsh > "${fpath[1]}/_pgwarden"'])
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=cmd_completion)


def script(shell: str) -> str:
    """The completion script for ``shell`` (bash or zsh)."""
    import shtab

    from .cli import build_parser

    return str(shtab.complete(build_parser(), shell=shell))


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(script(args.shell))
    return EXIT_OK
