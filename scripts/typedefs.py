"""Print ext/typedefs.list: the type names pg_bsd_indent must know (`make
update-typedefs`, used by `make indent`).

pgindent formats a declaration by whether its first word is a type name, and
C cannot tell that from the text alone, so it reads a list.  PostgreSQL makes
its own from the debugging information of a build; this does the same for
the objects of ext/ (DW_TAG_typedef entries: the server's types pgwarden
uses, and its own), and adds the typedefs declared in ext/ that no object
uses yet.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXT = Path(__file__).resolve().parent.parent / "ext"

# "} Name;" closing a typedef, "typedef ... Name;" and "typedef R (*Name) (...)"
CLOSING = re.compile(r"^\}\s*(\w+)\s*;", re.MULTILINE)
SIMPLE = re.compile(r"^typedef\s+[^;{(]*?\b(\w+)\s*;", re.MULTILINE)
FUNCPTR = re.compile(r"^typedef\s+[^;{]*?\(\s*\*\s*(\w+)\s*\)", re.MULTILINE)

# Server typedefs that ext/ uses as variable names and never declares with
# (logmask.c's "text"): listed, they would make pg_bsd_indent read an
# expression such as "p > text && ..." as a declaration.
NOT_TYPES = {"text"}


def from_objects() -> set[str]:
    objects = sorted(str(p) for p in EXT.glob("*.o"))
    if not objects:
        raise SystemExit("typedefs.py: build first (make all): no ext/*.o")
    out = subprocess.run(["objdump", "--dwarf=info", *objects], capture_output=True,
                         text=True, check=True).stdout
    names: set[str] = set()
    in_typedef = False
    for line in out.splitlines():
        if "DW_TAG_" in line:
            in_typedef = "DW_TAG_typedef" in line
        elif in_typedef and "DW_AT_name" in line:
            names.add(line.split()[-1])
            in_typedef = False
    return names


def from_sources() -> set[str]:
    names: set[str] = set()
    for path in sorted(EXT.glob("*.[ch]")):
        if path.name.startswith("entropy_data"):
            continue
        text = path.read_text(errors="replace")
        if "typedef" not in text:
            continue
        for pattern in (CLOSING, SIMPLE, FUNCPTR):
            names.update(pattern.findall(text))
    return names


def main() -> int:
    names = {n for n in from_objects() | from_sources()
             if re.fullmatch(r"[A-Za-z_]\w*", n) and n not in NOT_TYPES}
    sys.stdout.write("".join(f"{n}\n" for n in sorted(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
