"""`pgwarden password check|generate`."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from ._cli_util import EXIT_FAILED, EXIT_OK, CommandError, add_command, add_group, print_record
from .password import check_password, generate_password


def register(sub: Any) -> None:
    psub = add_group(sub, "password", dest="password_command",
                     help="check or generate passwords")

    check = add_command(
        psub, "check",
        help="judge a password read from a prompt or standard input (never from arguments); "
             "exit status 1 when it is rejected",
        example=["pgwarden password check --username app",
                 "pgwarden password generate | pgwarden password check -o json"])
    check.add_argument("--username", help="the role the password is for")
    check.add_argument("--min-bits", type=float, default=60.0)
    check.set_defaults(func=cmd_check)

    gen = add_command(psub, "generate", help="print a random pgw_ password",
                      example="pgwarden password generate --bits 128")
    gen.add_argument("--bits", type=int, default=80)
    gen.set_defaults(func=cmd_generate)


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")  # Ctrl-D: EOFError, reported by the command
    line = sys.stdin.readline()
    if not line:
        raise CommandError("no password on standard input")
    return line.rstrip("\r\n")


def cmd_check(args: argparse.Namespace) -> int:
    pw = _read_password()
    try:
        verdict = check_password(pw, username=args.username, min_bits=args.min_bits)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if args.output == "json":
        print_record({"bits": round(verdict.bits, 2), "min_bits": verdict.min_bits,
                      "ok": verdict.ok, "findings": list(verdict.findings)}, "json")
    else:
        state = "accepted" if verdict.ok else "rejected"
        print(f"{state}: {verdict.bits:.1f} bits (at least {verdict.min_bits:g} required)")
        if verdict.findings:
            print("found: " + ", ".join(verdict.findings))
    return EXIT_OK if verdict.ok else EXIT_FAILED


def cmd_generate(args: argparse.Namespace) -> int:
    try:
        pw = generate_password(args.bits)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if args.output == "json":
        print_record({"password": pw, "bits": args.bits}, "json")
    else:
        print(pw)
    return EXIT_OK
