"""Corpus generators for bench/password_estimator.py.

Two kinds of corpus, each built reproducibly from a fixed seed:

* weak: passwords an attacker reaches in far fewer than 2^60 guesses.  Every
  generator draws uniformly from a space whose size it reports (`space_bits`);
  each space is well below 2^50, so anything in it is weak by construction.
* random: uniformly random passwords of at least 64 true bits.

Each weak generator is built twice from different base lists:

* "tune": the lists the estimator compiles in (ext/dict/: zxcvbn's
  frequency lists, wamerican).  The estimator was tuned on this part.
* "held-out": lists that are *not* compiled in: Openwall's password.lst
  (Debian john-data), British English words (Debian wbritish), English word
  frequencies from the PyPI package wordfreq, US-census names from the PyPI
  package names.  The targets are judged on this part.

Sources that must be installed (bench/corpus/requirements.txt and the Debian
packages named above); a missing one is an error, never silently skipped.
"""

from __future__ import annotations

import math
import os
import pathlib
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parents[2]
DICT = ROOT / "ext" / "dict"

LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
DIGITS = string.digits
ALNUM = LOWER + UPPER + DIGITS
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))  # 95, with space
HEX = "0123456789abcdef"
SYMBOLS = "!@#$%&*?.+-_"

# Role and database names an administrator uses (the estimator is told the
# role and database, as the server does).
ROLES = ["app", "admin", "webapp", "api", "backend", "service", "reporting",
         "analytics", "readonly", "replicator", "etl", "batch", "worker",
         "billing", "orders", "inventory", "auth", "gateway", "dbadmin",
         "superuser", "developer", "tester", "deploy", "monitor", "grafana",
         "metabase", "django", "rails", "airflow", "keycloak", "gitlab",
         "sentry", "nextcloud", "wordpress", "odoo", "jira", "confluence",
         "backup", "migrator", "scheduler"]
DATABASES = ["appdb", "production", "prod", "staging", "dev", "test", "main",
             "core", "warehouse", "analytics", "crm", "erp", "shop", "store",
             "customers", "payments", "ledger", "events", "logs", "metrics",
             "users", "accounts", "catalog", "content", "media", "search",
             "reports", "sales", "hr", "finance"]


@dataclass
class Sample:
    password: str
    username: str = ""
    context: tuple[str, ...] = ()


@dataclass
class Generator:
    name: str
    kind: str                 # "weak" or "random"
    space_bits: float         # log2 of the whole space drawn from
    draw: Callable[[random.Random], Sample]
    longer: bool = False      # a "longer" random kind (beyond the required set)
    count: int = 0
    samples: list[Sample] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Base lists
# ---------------------------------------------------------------------------

def _read(path: str | os.PathLike[str]) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.strip() for line in f if line.strip()]


def _uniq(words: list[str]) -> list[str]:
    seen = set()
    out = []
    for w in words:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def _alpha(words: list[str], lo: int = 3, hi: int = 12) -> list[str]:
    return _uniq([w.lower() for w in words
                  if w.isascii() and w.isalpha() and lo <= len(w) <= hi])


class Lists:
    """The base lists of one half of the corpus."""

    def __init__(self, half: str) -> None:
        self.half = half
        if half == "tune":
            self.common = _uniq(_read(DICT / "passwords.txt"))[:10000]
            self.words = _alpha(_read(DICT / "english_wikipedia.txt"))[:20000]
            self.all_words = _alpha(_read(DICT / "wamerican.txt"), 4, 10)
            self.names = _alpha(_read(DICT / "female_names.txt")
                                + _read(DICT / "male_names.txt")
                                + _read(DICT / "surnames.txt")[:5000])
        else:
            john = "/usr/share/john/password.lst"
            wbritish = "/usr/share/dict/british-english"
            for p, pkg in ((john, "john-data"), (wbritish, "wbritish")):
                if not os.path.exists(p):
                    raise SystemExit(f"missing {p}: apt-get install {pkg}")
            self.common = _uniq([w for w in _read(john)
                                 if not w.startswith("#!comment")])
            import wordfreq  # PyPI wordfreq (bench only)
            self.words = _alpha(wordfreq.top_n_list("en", 40000))[:20000]
            self.all_words = _alpha(_read(wbritish), 4, 10)
            import names as names_pkg  # PyPI names (bench only)
            base = pathlib.Path(names_pkg.__file__).parent
            nm = []
            for f in ("dist.female.first", "dist.male.first"):
                nm += [line.split()[0] for line in _read(base / f)]
            nm += [line.split()[0] for line in _read(base / "dist.all.last")][:5000]
            self.names = _alpha(nm)
        import xkcdpass  # PyPI xkcdpass: ships the EFF long word list
        eff = pathlib.Path(xkcdpass.__file__).parent / "static" / "eff-long"
        self.eff = _uniq(_read(eff))
        assert len(self.eff) == 7776, len(self.eff)


# ---------------------------------------------------------------------------
# Mangling rules (each with the number of its variants)
# ---------------------------------------------------------------------------

L33T = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7"}
L33T_ALT = {"a": "@", "e": "3", "i": "!", "o": "0", "s": "5", "t": "7"}


def case_variant(w: str, r: random.Random, k: int | None = None) -> str:
    if k is None:
        k = r.randrange(4)
    return (w, w.capitalize(), w.upper(), w[:-1] + w[-1:].upper())[k]


CASE_VARIANTS = 4


def l33t_variant(w: str, r: random.Random) -> str:
    k = r.randrange(3)
    if k == 0:
        return w
    table = L33T if k == 1 else L33T_ALT
    return "".join(table.get(c, c) for c in w)


L33T_VARIANTS = 3

YEARS = list(range(1950, 2031))


def suffix(r: random.Random) -> str:
    """Digits, a year or a symbol appended, as people do."""
    k = r.randrange(8)
    if k == 0:
        return ""
    if k == 1:
        return str(r.randrange(10))
    if k == 2:
        return str(r.randrange(100))
    if k == 3:
        return str(r.choice(YEARS))
    if k == 4:
        return r.choice(SYMBOLS)
    if k == 5:
        return str(r.randrange(100)) + r.choice(SYMBOLS)
    if k == 6:
        return str(r.choice(YEARS)) + r.choice(SYMBOLS)
    return "123" if r.randrange(2) else "1234"


SUFFIXES = 1 + 10 + 100 + len(YEARS) + len(SYMBOLS) * (1 + 100 + len(YEARS)) + 2


# ---------------------------------------------------------------------------
# Keyboard walks
# ---------------------------------------------------------------------------

QWERTY = [("`1234567890-=", "~!@#$%^&*()_+"),
          (" qwertyuiop[]\\", " QWERTYUIOP{}|"),
          (" asdfghjkl;'", " ASDFGHJKL:\""),
          (" zxcvbnm,./", " ZXCVBNM<>?")]
QDIRS = [(0, -1), (0, 1), (-1, 0), (-1, 1), (1, -1), (1, 0)]
KEYPAD = [" /*-", "789+", "456+", "123 ", " 0. "]
KDIRS = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]


def _key(rows: list[str], r: int, c: int) -> str | None:
    if 0 <= r < len(rows) and 0 <= c < len(rows[r]) and rows[r][c] != " ":
        return rows[r][c]
    return None


def walk(r: random.Random, keypad: bool, length: int, max_turns: int) -> str:
    rows = KEYPAD if keypad else [row[0] for row in QWERTY]
    dirs = KDIRS if keypad else QDIRS
    attempts = 0
    while True:
        attempts += 1
        if attempts % 50 == 0 and length > 4:
            length -= 1       # no such walk: a shorter one
        starts = [(i, j) for i in range(len(rows)) for j in range(len(rows[i]))
                  if rows[i][j] != " "]
        pos = r.choice(starts)
        out = [rows[pos[0]][pos[1]]]
        d = r.choice(dirs)
        turns = 1
        ok = True
        while len(out) < length:
            nxt = _key(rows, pos[0] + d[0], pos[1] + d[1])
            if nxt is None or (turns < max_turns and r.random() < 0.15):
                if turns >= max_turns:
                    ok = False
                    break
                cands = [dd for dd in dirs if dd != d and
                         _key(rows, pos[0] + dd[0], pos[1] + dd[1])]
                if not cands:
                    ok = False
                    break
                d = r.choice(cands)
                turns += 1
                continue
            pos = (pos[0] + d[0], pos[1] + d[1])
            out.append(nxt)
        if ok:
            s = "".join(out)
            if not keypad and r.randrange(4) == 0:
                shift = {a: b for row in QWERTY for a, b in zip(*row)}
                s = "".join(shift.get(c, c) for c in s)
            return s


# ---------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------

def weak_generators(L: Lists) -> list[Generator]:
    gens: list[Generator] = []
    nc, nw, na, nn = len(L.common), len(L.words), len(L.all_words), len(L.names)
    lg = math.log2

    def common(r: random.Random) -> Sample:
        return Sample(r.choice(L.common))
    gens.append(Generator("common passwords", "weak", lg(nc), common))

    def mangled(r: random.Random) -> Sample:
        w = r.choice(L.common)
        k = r.randrange(3)
        if k == 1:
            w = w[::-1]
        elif k == 2:
            w = w + w
        w = l33t_variant(case_variant(w, r), r)
        return Sample(w + suffix(r))
    gens.append(Generator("common + mangling", "weak",
                          lg(nc * 3 * CASE_VARIANTS * L33T_VARIANTS * SUFFIXES),
                          mangled))

    def word_digits(r: random.Random) -> Sample:
        n = 1 + r.randrange(2)
        style = r.randrange(CASE_VARIANTS)   # one style for both words
        ws = [case_variant(r.choice(L.words), r, style) for _ in range(n)]
        k = r.randrange(3)
        tail = (str(r.randrange(10000)) if k == 0 else
                str(r.choice(YEARS)) if k == 1 else str(r.randrange(100)))
        if r.randrange(3) == 0:
            tail += r.choice(SYMBOLS)
        return Sample("".join(ws) + tail)
    gens.append(Generator("1-2 words + digits/year", "weak",
                          lg((nw + nw * nw) * CASE_VARIANTS
                             * (10000 + len(YEARS) + 100) * (1 + len(SYMBOLS))),
                          word_digits))

    def rare_word(r: random.Random) -> Sample:
        w = l33t_variant(case_variant(r.choice(L.all_words), r), r)
        return Sample(w + suffix(r))
    gens.append(Generator("any dictionary word + mangling", "weak",
                          lg(na * CASE_VARIANTS * L33T_VARIANTS * SUFFIXES),
                          rare_word))

    def upper_joined(r: random.Random) -> Sample:
        n = 2 + r.randrange(2)
        top = L.words[:8000]
        sep = r.choice("_-")
        s = sep.join(r.choice(top).upper() for _ in range(n))
        if r.randrange(2):
            s += sep + str(r.choice(YEARS))
        return Sample(s)
    gens.append(Generator("UPPER words joined by _ or -", "weak",
                          lg(2 * (8000 ** 2 + 8000 ** 3) * (1 + len(YEARS))),
                          upper_joined))

    def name_date(r: random.Random) -> Sample:
        name = case_variant(r.choice(L.names), r)
        return Sample(name + date_string(r))
    gens.append(Generator("name + date", "weak",
                          lg(nn * CASE_VARIANTS * DATE_SPACE), name_date))

    def walks(r: random.Random) -> Sample:
        keypad = r.randrange(4) == 0
        s = walk(r, keypad, 4 + r.randrange(13), 1 + r.randrange(3))
        rep = 1 + r.randrange(3)
        return Sample(s * rep)
    # start key (<= 94 with shift) x length (13) x turn positions and
    # directions (<= sum_{t<=3} C(15, t-1) 8^t) x shift (2) x repeats (3)
    walk_space = 94 * 13 * sum(math.comb(15, t - 1) * 8 ** t
                               for t in (1, 2, 3)) * 2 * 3
    gens.append(Generator("keyboard walks (+ repeats)", "weak",
                          lg(walk_space), walks))

    def repeats(r: random.Random) -> Sample:
        if r.randrange(2):
            return Sample(r.choice(PRINTABLE[1:]) * (4 + r.randrange(17)))
        blk = "".join(r.choice(PRINTABLE[1:]) for _ in range(2 + r.randrange(3)))
        return Sample(blk * (2 + r.randrange(4)))
    gens.append(Generator("repeated characters and blocks", "weak",
                          lg(94 * 17 + 94 ** 4 * 3 * 4), repeats))

    def runs(r: random.Random) -> Sample:
        alpha = r.choice([LOWER, UPPER, DIGITS])
        step = r.choice([1, 1, 1, 2, 3])
        n = 4 + r.randrange(10)
        start = r.randrange(len(alpha))
        s = "".join(alpha[(start + i * step) % len(alpha)] for i in range(n))
        if r.randrange(3) == 0:
            s = s[::-1]
        if r.randrange(3) == 0:
            s += "".join(DIGITS[(1 + i) % 10] for i in range(3 + r.randrange(4)))
        return Sample(s)
    gens.append(Generator("alphabetic and numeric runs", "weak",
                          lg(62 * 5 * 10 * 2 * 5), runs))

    def dates(r: random.Random) -> Sample:
        return Sample(date_string(r))
    gens.append(Generator("dates", "weak", lg(DATE_SPACE), dates))

    def role_db(r: random.Random) -> Sample:
        role = r.choice(ROLES)
        db = r.choice(DATABASES)
        k = r.randrange(4)
        base = (role if k == 0 else db if k == 1 else
                role + r.choice("_-.@") + db if k == 2 else db + "_" + role)
        base = l33t_variant(case_variant(base, r), r)
        return Sample(base + suffix(r), username=role, context=(role, db))
    gens.append(Generator("role/database names + decorations", "weak",
                          lg(len(ROLES) * len(DATABASES) * 6 * CASE_VARIANTS
                             * L33T_VARIANTS * SUFFIXES), role_db))
    for g in gens:
        assert g.space_bits < 50, (g.name, g.space_bits)
    return gens


DATE_FORMATS = ["{d:02}{m:02}{y}", "{m:02}{d:02}{y}", "{y}{m:02}{d:02}",
                "{d:02}{m:02}{yy:02}", "{m:02}{d:02}{yy:02}",
                "{d}/{m}/{y}", "{m}/{d}/{y}", "{d:02}/{m:02}/{y}",
                "{d:02}.{m:02}.{y}", "{d:02}-{m:02}-{y}", "{y}-{m:02}-{d:02}",
                "{d:02}/{m:02}/{yy:02}", "{d}.{m}.{yy:02}"]
DATE_SPACE = 31 * 12 * len(range(1940, 2031)) * len(DATE_FORMATS)


def date_string(r: random.Random) -> str:
    y = r.randrange(1940, 2031)
    m = 1 + r.randrange(12)
    d = 1 + r.randrange(28 if m == 2 else 30 if m in (4, 6, 9, 11) else 31)
    return r.choice(DATE_FORMATS).format(d=d, m=m, y=y, yy=y % 100)


def random_generators(L: Lists) -> list[Generator]:
    def uniform(alpha: str, n: int) -> Callable[[random.Random], Sample]:
        return lambda r: Sample("".join(r.choice(alpha) for _ in range(n)))

    def phrase(n: int) -> Callable[[random.Random], Sample]:
        def f(r: random.Random) -> Sample:
            sep = r.choice([" ", "-"])  # the separator adds one bit on top
            return Sample(sep.join(r.choice(L.eff) for _ in range(n)))
        return f

    def generated(r: random.Random) -> Sample:
        # pgwarden.generate_password(80): "pgw_" + 14 alphanumerics (83 bits)
        return Sample("pgw_" + "".join(r.choice(ALNUM) for _ in range(14)))

    specs = [
        ("11 alphanumeric", ALNUM, 11), ("14 lowercase", LOWER, 14),
        ("13 lowercase+digits", LOWER + DIGITS, 13), ("20 digits", DIGITS, 20),
        ("10 printable ASCII", PRINTABLE, 10), ("17 hex", HEX, 17),
    ]
    gens = [Generator(name, "random", n * math.log2(len(a)), uniform(a, n))
            for name, a, n in specs]
    gens.append(Generator("5-word passphrase (EFF 7776)", "random",
                          5 * math.log2(7776), phrase(5)))
    longer = [("16 alphanumeric", ALNUM, 16), ("20 lowercase", LOWER, 20),
              ("14 printable ASCII", PRINTABLE, 14), ("32 hex", HEX, 32)]
    gens += [Generator(name, "random", n * math.log2(len(a)), uniform(a, n),
                       longer=True)
             for name, a, n in longer]
    gens.append(Generator("6-word passphrase (EFF 7776)", "random",
                          6 * math.log2(7776), phrase(6), longer=True))
    gens.append(Generator("pgw_ + 14 alphanumeric", "random",
                          14 * math.log2(62), generated, longer=True))
    for g in gens:
        assert g.space_bits >= 64, (g.name, g.space_bits)
    return gens


def build(half: str, seed: int, weak_per_gen: int, random_per_gen: int,
          longer_per_gen: int) -> list[Generator]:
    L = Lists(half)
    r = random.Random(seed)
    gens = weak_generators(L) + random_generators(L)
    for g in gens:
        if g.kind == "weak":
            g.count = weak_per_gen
        else:
            g.count = longer_per_gen if g.longer else random_per_gen
        g.samples = [g.draw(r) for _ in range(g.count)]
    return gens
