#!/usr/bin/env python3
"""Generate ext/entropy_data.{c,h}: the compiled dictionaries of the estimator.

Reads the word lists in ext/dict/ (see ext/dict/README.md for their sources
and licences) and writes one lower-case trie holding every word, each word
tagged with the dictionary and rank under which it is cheapest to guess.

The trie is stored in breadth-first order so that the children of node i are
the nodes child[i] .. child[i+1]-1, sorted by label.  Terminal nodes are
marked in a bitmap; a per-64-node running count turns a terminal node into an
index into the word-information array (dictionary << 20 | rank).

Usage: tools/gen_entropy_data.py [--check]
  --check  exit 1 if the generated files differ from the committed ones.
"""

from __future__ import annotations

import math
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DICT = ROOT / "ext" / "dict"
OUT_C = ROOT / "ext" / "entropy_data.c"
OUT_H = ROOT / "ext" / "entropy_data.h"

# Dictionary identifiers and their extra cost in bits (an attacker tries the
# common-password list first, then words and names).  Must match entropy.c's
# use of PGW_DICT_* (they are emitted into entropy_data.h).
DICTS = [
    ("PASSWORDS", 0.0),
    ("ENGLISH", 1.0),
    ("FIRST_NAMES", 1.0),
    ("SURNAMES", 1.0),
]
MAX_WORD = 32
RANK_BITS = 20


def read_list(name: str) -> list[str]:
    words = []
    for line in (DICT / name).read_text(encoding="utf-8").splitlines():
        w = line.strip().lower()
        if w and w.isascii() and w.isprintable() and len(w) <= MAX_WORD:
            words.append(w)
    return words


def merge_ranked(*lists: list[str]) -> dict[str, int]:
    """Merge frequency-ranked lists: order by best rank in any of them."""
    best: dict[str, int] = {}
    for lst in lists:
        for i, w in enumerate(lst):
            if w not in best or i < best[w]:
                best[w] = i
    order = sorted(best, key=lambda w: (best[w], w))
    return {w: i + 1 for i, w in enumerate(order)}


def build() -> tuple[str, str]:
    passwords = merge_ranked(read_list("passwords.txt"))
    english = merge_ranked(read_list("english_wikipedia.txt"),
                           read_list("us_tv_and_film.txt"))
    # SCOWL words carry no frequency: every one not already ranked costs the
    # same, the middle of the unranked block.
    extra = [w for w in read_list("wamerican.txt") if w not in english]
    flat = len(english) + max(1, len(extra) // 2)
    for w in extra:
        english[w] = flat
    first = merge_ranked(read_list("female_names.txt"),
                         read_list("male_names.txt"))
    surnames = merge_ranked(read_list("surnames.txt"))
    ranked = [passwords, english, first, surnames]

    info: dict[str, int] = {}
    for w in set().union(*ranked):
        if len(w) < 2:
            continue
        best = None
        for d, (tbl, (_, bias)) in enumerate(zip(ranked, DICTS)):
            if w in tbl:
                cost = math.log2(tbl[w]) + bias
                if best is None or cost < best[0]:
                    best = (cost, d, tbl[w])
        assert best is not None
        assert best[2] < (1 << RANK_BITS)
        info[w] = (best[1] << RANK_BITS) | best[2]

    # Build the trie.
    children: list[dict[int, int]] = [{}]
    term: list[int] = [-1]
    for w in sorted(info):
        n = 0
        for ch in w.encode("ascii"):
            nxt = children[n].get(ch)
            if nxt is None:
                nxt = len(children)
                children.append({})
                term.append(-1)
                children[n][ch] = nxt
            n = nxt
        term[n] = info[w]

    # Renumber breadth-first.
    order = [0]
    head = 0
    while head < len(order):
        n = order[head]
        head += 1
        for ch in sorted(children[n]):
            order.append(children[n][ch])
    newid = {old: i for i, old in enumerate(order)}
    nnodes = len(order)
    labels = [0] * nnodes
    first_child = [0] * (nnodes + 1)
    next_free = 1
    for i, old in enumerate(order):
        first_child[i] = next_free
        for ch in sorted(children[old]):
            labels[newid[children[old][ch]]] = ch
            next_free += 1
    first_child[nnodes] = next_free
    assert next_free == nnodes

    bitmap = [0] * ((nnodes + 63) // 64)
    blockrank = [0] * len(bitmap)
    words_info = []
    for i, old in enumerate(order):
        if term[old] >= 0:
            bitmap[i // 64] |= 1 << (i % 64)
            words_info.append(term[old])
    running = 0
    for b in range(len(bitmap)):
        blockrank[b] = running
        running += bitmap[b].bit_count()

    def arr(ctype: str, name: str, values: list[int], per_line: int,
            fmt: str = "{}") -> str:
        out = [f"const {ctype} {name}[{len(values)}] = {{"]
        for i in range(0, len(values), per_line):
            out.append("\t" + ",".join(fmt.format(v)
                                       for v in values[i:i + per_line]) + ",")
        out.append("};\n")
        return "\n".join(out)

    h = []
    h.append("/* Generated by tools/gen_entropy_data.py from ext/dict/; "
             "do not edit. */")
    h.append("#ifndef PGW_ENTROPY_DATA_H\n#define PGW_ENTROPY_DATA_H\n")
    h.append("#include <stdint.h>\n")
    for d, (name, bias) in enumerate(DICTS):
        h.append(f"#define PGW_DICT_{name}\t{d}")
    h.append("#define PGW_NDICTS\t" + str(len(DICTS)))
    h.append("#define PGW_DICT_BIASES\t{" +
             ", ".join(f"{b:.1f}" for _, b in DICTS) + "}")
    h.append(f"#define PGW_RANK_BITS\t{RANK_BITS}")
    h.append(f"#define PGW_TRIE_NODES\t{nnodes}")
    h.append(f"#define PGW_TRIE_WORDS\t{len(words_info)}")
    h.append(f"#define PGW_DICT_MAX_WORD\t{MAX_WORD}")
    for d, tbl in enumerate(ranked):
        h.append(f"#define PGW_DICT_SIZE_{DICTS[d][0]}\t{max(tbl.values())}")
    h.append("")
    h.append("extern const uint8_t pgw_trie_label[PGW_TRIE_NODES];")
    h.append("extern const uint32_t pgw_trie_child[PGW_TRIE_NODES + 1];")
    h.append("extern const uint64_t pgw_trie_term[(PGW_TRIE_NODES + 63) / 64];")
    h.append("extern const uint32_t pgw_trie_termrank[(PGW_TRIE_NODES + 63) / 64];")
    h.append("extern const uint32_t pgw_trie_info[PGW_TRIE_WORDS];")
    h.append("\n#endif\t\t\t\t\t\t\t/* PGW_ENTROPY_DATA_H */\n")

    c = []
    c.append("/* Generated by tools/gen_entropy_data.py from ext/dict/; "
             "do not edit.\n * Sources and licences: ext/dict/README.md. */")
    c.append('#include "entropy_data.h"\n')
    c.append(arr("uint8_t", "pgw_trie_label", labels, 24))
    c.append(arr("uint32_t", "pgw_trie_child", first_child, 12))
    c.append(arr("uint64_t", "pgw_trie_term", bitmap, 4, "0x{:x}ULL"))
    c.append(arr("uint32_t", "pgw_trie_termrank", blockrank, 12))
    c.append(arr("uint32_t", "pgw_trie_info", words_info, 10))
    return "\n".join(h), "\n".join(c)


def main() -> int:
    h, c = build()
    if "--check" in sys.argv[1:]:
        same = (OUT_H.exists() and OUT_H.read_text() == h
                and OUT_C.exists() and OUT_C.read_text() == c)
        print("entropy_data up to date" if same else "entropy_data is stale")
        return 0 if same else 1
    OUT_H.write_text(h)
    OUT_C.write_text(c)
    return 0


if __name__ == "__main__":
    sys.exit(main())
