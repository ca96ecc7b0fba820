"""Dependencies between the files of ext/ point one way: no include cycle,
no two concerns that depend on each other.

Three graphs over ext/, each of which must be acyclic:

* includes: file -> the ext/ header it #includes (a header cycle);
* concerns: x -> y when x.c or x.h includes y.h and y.c exists (x uses
  what y owns);
* calls (with --symbols, after a build): x -> y when x.o needs a symbol
  that y.o defines (nm), so no file calls back into a file that calls it.

Exit status 0 when all are acyclic, 1 with the cycle printed otherwise.
``--order`` prints the concerns from the most depended upon to the least.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def includes(ext: Path) -> dict[str, set[str]]:
    """Each ext/ file -> the ext/ files it includes (by name)."""
    files = {p.name for p in ext.iterdir() if p.suffix in (".c", ".h")}
    graph: dict[str, set[str]] = {}
    for name in sorted(files):
        text = (ext / name).read_text(errors="replace")
        graph[name] = {inc for inc in INCLUDE.findall(text) if inc in files}
    return graph


def concerns(ext: Path, inc: dict[str, set[str]]) -> dict[str, set[str]]:
    """x -> y when a file of x includes y.h and y.c exists."""
    owners = {p.stem for p in ext.glob("*.c")}
    graph: dict[str, set[str]] = {stem: set() for stem in owners}
    for name, targets in inc.items():
        stem = Path(name).stem
        graph.setdefault(stem, set())
        for target in targets:
            other = Path(target).stem
            if other != stem and other in owners:
                graph[stem].add(other)
    return graph


def symbols(ext: Path) -> dict[str, set[str]] | None:
    """x -> y when x.o needs a symbol y.o defines; None when not built."""
    objects = sorted(ext.glob("*.o"))
    if not objects or len(objects) < len(list(ext.glob("*.c"))):
        return None
    defined: dict[str, str] = {}
    needed: dict[str, set[str]] = {}
    for obj in objects:
        out = subprocess.run(["nm", "--format=posix", str(obj)], capture_output=True,
                             text=True, check=True).stdout
        needed[obj.stem] = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            sym, kind = parts[0], parts[1]
            if kind == "U":
                needed[obj.stem].add(sym)
            elif kind.isupper():
                defined[sym] = obj.stem
    graph: dict[str, set[str]] = {stem: set() for stem in needed}
    for stem, syms in needed.items():
        for sym in syms:
            owner = defined.get(sym)
            if owner is not None and owner != stem:
                graph[stem].add(owner)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def layers(graph: dict[str, set[str]]) -> list[list[str]]:
    """Concerns by depth: first those that depend on no other (acyclic graph)."""
    depth: dict[str, int] = {}

    def d(node: str) -> int:
        if node not in depth:
            depth[node] = 1 + max((d(n) for n in graph.get(node, ())), default=-1)
        return depth[node]

    for node in graph:
        d(node)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node, level in depth.items():
        out[level].append(node)
    return [sorted(level) for level in out]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ext", type=Path, default=Path(__file__).resolve().parent.parent / "ext")
    ap.add_argument("--symbols", action="store_true",
                    help="also check the call graph of the built objects (nm); "
                         "fails when they are not built")
    ap.add_argument("--order", action="store_true", help="print the concerns in layers")
    args = ap.parse_args(argv)

    inc = includes(args.ext)
    checks: list[tuple[str, dict[str, set[str]]]] = [
        ("include", inc), ("concern", concerns(args.ext, inc))]
    if args.symbols:
        calls = symbols(args.ext)
        if calls is None:
            print("check_includes: ext/*.o are not built (make all) for --symbols",
                  file=sys.stderr)
            return 1
        checks.append(("call", calls))
    status = 0
    for what, graph in checks:
        cycle = find_cycle(graph)
        if cycle:
            print(f"{what} cycle: {' -> '.join(cycle)}")
            status = 1
        else:
            print(f"no {what} cycle among {len(graph)} {'files' if what == 'include' else 'concerns'}")
    if args.order and status == 0:
        for i, level in enumerate(layers(checks[-1][1])):
            print(f"  {i}: {' '.join(level)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
