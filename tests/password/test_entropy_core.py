"""The estimator core (ext/entropy.c) through its Python binding: verdicts and
findings that need no server.

Each test states one behaviour of pgw_estimate_entropy(): patterned passwords
score low and say why, random ones keep their entropy, Unicode is counted per
code point, invalid input is refused, time is bounded.
"""

from __future__ import annotations

import math
import random
import string
import threading
import time

import pytest

from pgwarden import _entropy
from support import ROOT

# Bit values of ext/entropy.h (PGW_PAT_*).
COMMON_PASSWORD = 1 << 0
DICTIONARY_WORD = 1 << 1
NAME = 1 << 2
CAPITALIZATION = 1 << 3
L33T = 1 << 4
REVERSED = 1 << 5
KEYBOARD = 1 << 6
REPEAT = 1 << 7
SEQUENCE = 1 << 8
DATE = 1 << 9
YEAR = 1 << 10
CONTEXT = 1 << 11
SHORT = 1 << 12

ALNUM = string.ascii_letters + string.digits


def bits(pw: str, context: tuple[str, ...] = ()) -> float:
    return _entropy.estimate(pw, context)[0]


def mask(pw: str, context: tuple[str, ...] = ()) -> int:
    return _entropy.estimate(pw, context)[1]


@pytest.mark.parametrize("pw", ["Summer2024!", "P@ssw0rd123", "qwertyuiop",
                                "CorrectHorse2019", "password", "iloveyou",
                                "Jennifer1987", "abc123", "111111", "dragon"])
def test_well_known_weak_passwords_score_far_below_60(pw: str) -> None:
    assert bits(pw) < 40


def test_summer2024_findings() -> None:
    m = mask("Summer2024!")
    assert m & CAPITALIZATION
    assert m & YEAR
    assert m & (COMMON_PASSWORD | DICTIONARY_WORD)
    assert _entropy.describe(m)[:1] in (["a common password"], ["a dictionary word"])


def test_l33t_is_found_and_priced() -> None:
    plain, leet = bits("password"), bits("p@ssw0rd")
    assert mask("p@ssw0rd") & L33T
    assert not mask("password") & L33T
    assert plain < leet < plain + 6


def test_capital_first_letter_is_predictable_capitalisation() -> None:
    assert mask("Elephant") & CAPITALIZATION
    assert "predictable capitalization" in _entropy.describe(mask("Elephant"))
    assert bits("Elephant") - bits("elephant") <= 1.5


def test_reversed_word() -> None:
    assert mask("drowssap") & REVERSED
    assert bits("drowssap") < 15


def test_keyboard_walks() -> None:
    for pw in ("zxcvbnm,./", ";lkjhgfdsa", "poiuytrewq"[::-1] + "[]", "7894561230"):
        assert bits(pw) < 30, pw
    assert mask("zxcvbnm,./") & KEYBOARD
    assert "a keyboard walk" in _entropy.describe(mask("zxcvbnm,./"))


def test_shifted_walks_are_walks() -> None:
    assert mask("!QAZ@WSX#EDC") & KEYBOARD
    assert bits("!QAZ@WSX#EDC") < 45
    assert mask("ZXCVBNM<>?") & KEYBOARD
    assert bits("ZXCVBNM<>?") < 25


def test_repeats_of_characters_and_blocks() -> None:
    assert mask("aaaaaaaaaaaaaaaa") & REPEAT
    assert bits("aaaaaaaaaaaaaaaa") < 15
    assert mask("xk7!xk7!xk7!xk7!") & REPEAT
    assert bits("xk7!xk7!xk7!xk7!") < bits("xk7!") + 8


def test_sequences_with_steps() -> None:
    assert mask("abcdefghij") & SEQUENCE
    assert mask("13579135") & SEQUENCE or mask("13579135") & REPEAT
    assert bits("ZYXWVUTS") < 15
    assert mask("acegikmo") & SEQUENCE


def test_dates_and_years() -> None:
    for pw in ("12/05/1987", "1987-05-12", "19870512", "120587"):
        assert mask(pw) & DATE, pw
        assert bits(pw) < 25, pw
    assert mask("xkcd1999") & YEAR
    assert "a year" in _entropy.describe(mask("xkcd1999"))


def test_context_words_are_cheap() -> None:
    with_ctx = bits("Orders_Prod!42", ("orders", "prod"))
    without = bits("Orders_Prod!42")
    assert mask("Orders_Prod!42", ("orders", "prod")) & CONTEXT
    assert with_ctx < without
    assert with_ctx < 40
    # "postgres" is always a context word
    assert mask("postgres2024") & CONTEXT


def test_context_word_in_l33t() -> None:
    assert mask("r3pl1c4t0r2024", ("replicator",)) & CONTEXT
    assert bits("r3pl1c4t0r2024", ("replicator",)) < 35


def test_random_alphanumeric_keeps_its_entropy() -> None:
    rng = random.Random(7)
    scores = sorted(bits("".join(rng.choice(ALNUM) for _ in range(12)))
                    for _ in range(400))
    true_bits = 12 * math.log2(62)          # 71.5
    median = scores[len(scores) // 2]
    assert true_bits - 2 <= median <= true_bits + 3
    assert scores[len(scores) // 100] >= 60    # 99 % keep at least 60 bits


@pytest.mark.parametrize("alphabet,n", [(string.ascii_lowercase, 14),
                                        (string.digits, 20),
                                        ("0123456789abcdef", 17)])
def test_random_strings_of_64_true_bits_pass(alphabet: str, n: int) -> None:
    rng = random.Random(n)
    ok = sum(bits("".join(rng.choice(alphabet) for _ in range(n))) >= 60
             for _ in range(300))
    assert ok >= 294          # >= 98 % on this small sample; bench measures 99.5 %


def test_cjk_is_counted_per_code_point() -> None:
    pw = "我爱你中国人"               # 6 code points, 18 bytes
    b, m = _entropy.estimate(pw)
    assert 6 * 10 <= b <= 6 * 12      # ~11.3 bits per Han character
    assert b < 18 * 4                 # not priced per byte
    assert not m & SHORT or b < 60


def test_other_scripts_get_no_free_pass() -> None:
    # Cyrillic is matched through the keys it is typed on: "пароль" is the
    # common password "gfhjkm"; repeats and years are found in any script
    assert mask("пароль") & COMMON_PASSWORD
    assert bits("Пароль2020") < 30
    assert mask("παπαπαπαπαπα") & REPEAT
    assert bits("παπαπαπαπαπα") < 20


def test_other_scripts_get_no_unfair_penalty() -> None:
    rng = random.Random(3)
    cyr = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    scores = [bits("".join(rng.choice(cyr) for _ in range(14))) for _ in range(200)]
    # 14 random lower-case Cyrillic letters: 14 x log2(33) = 70.6 bits
    assert statistics_median(scores) >= 66


def statistics_median(xs: list[float]) -> float:
    ys = sorted(xs)
    return ys[len(ys) // 2]


def test_invalid_utf8_is_refused_not_crashed() -> None:
    with pytest.raises(ValueError):
        _entropy.estimate("abc\ud800def")      # a lone surrogate is not UTF-8


def test_empty_and_short() -> None:
    b, m = _entropy.estimate("")
    assert b == 0.0
    assert m & SHORT
    assert mask("x9!") & SHORT


def test_describe_phrases() -> None:
    assert _entropy.describe(COMMON_PASSWORD) == ["a common password"]
    assert _entropy.describe(KEYBOARD | YEAR) == ["a keyboard walk", "a year"]
    assert _entropy.describe(0) == []


def test_longer_random_passwords_score_higher() -> None:
    rng = random.Random(11)
    base = "".join(rng.choice(ALNUM) for _ in range(16))
    assert bits(base + "Qz8") > bits(base)


def test_one_mebibyte_is_answered_quickly() -> None:
    rng = random.Random(5)
    shapes = ["a" * (1 << 20), "qwerty" * ((1 << 20) // 6),
              "".join(rng.choice(ALNUM) for _ in range(1 << 20))]
    for pw in shapes:
        t0 = time.perf_counter()
        b = bits(pw)
        dt = time.perf_counter() - t0
        assert dt < 0.2             # the bench holds it to 50 ms on a quiet machine
        assert b >= 0
    assert bits("a" * (1 << 20)) < 60  # one repeated character stays weak


def test_same_answer_from_many_threads() -> None:
    rng = random.Random(9)
    pws = ["".join(rng.choice(ALNUM + "!@#") for _ in range(rng.randint(1, 40)))
           for _ in range(300)]
    expected = [bits(p) for p in pws]
    errors: list[str] = []

    def worker() -> None:
        for p, e in zip(pws, expected):
            if bits(p) != e:
                errors.append(p)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_contains_word_ignores_ascii_case() -> None:
    assert _entropy.contains_word("xxRegress_Aliceyy", "regress_alice")
    assert not _entropy.contains_word("regress_alic", "regress_alice")
    assert _entropy.contains_word("a" * 100000 + "B", "aaaab")
    assert not _entropy.contains_word("a" * 100000, "aaaab")


def test_disguises_are_seen_through() -> None:
    # one separator between all characters, every character typed twice
    for pw in ("p-a-s-s-w-o-r-d", "p a s s w o r d", "ppaasssswwoorrdd",
               "S.u.m.m.e.r.2.0.2.4"):
        assert bits(pw) < 30, pw
    assert mask("p-a-s-s-w-o-r-d") & COMMON_PASSWORD
    assert mask("ppaasssswwoorrdd") & REPEAT


def test_fullwidth_and_invisible_characters_do_not_hide_words() -> None:
    assert bits("ｐａｓｓｗｏｒｄ１２３") < 20
    assert bits("pass\u00adword123") < 20
    assert bits("pass\u200b\u2060\ufeffword") < 20
    b, m = _entropy.estimate("\u200b" * 12)
    assert b == 0.0 and m & SHORT


# ---------------------------------------------------------------------------
# Estimator v2 (issue 11): dictionaries of many languages, the character
# model, five keyboard layouts, disguises and structures undone in the core
# ---------------------------------------------------------------------------

WORDLIKE = 1 << 13
PHRASE = 1 << 14
NUMBER = 1 << 15
SEPARATORS = 1 << 16
INCREMENT = 1 << 17
REPEATED_WORD = 1 << 18

# Every example of issue 11: each is reachable in far fewer than 2^50 guesses.
ISSUE_11_WEAK = [
    "Tr0ub4dor&3", "Willkommen1!", "lacasadepapel123", "Allezlesbleus123",
    "Glueckwuenscheglueckwuensche123", "endocrinologistENDOCRINOLOGIST",
    "4p5y6f7g8c9r2024", "=)àç_è-('\"é", "Atcnbdfkm02", "7.ottobre.1962",
    "pa-ss-wo-rd-12-34-56", "Pa_ss_Wo_rd_20_24", "Pp@@ssww00rrdd!!",
    "CorrectHorseBatteryStaple1!", "thequickbrownfoxjumpsoverthelazydog",
    "Password1!Password2!Password3!", "abc123abc124abc125abc126",
    "2718281828459045235", "ilovemydogilovemycat",
]


@pytest.mark.parametrize("pw", ISSUE_11_WEAK)
def test_every_example_of_issue_11_is_refused(pw: str) -> None:
    assert bits(pw) < 60


def test_random_hangul_of_five_syllables_is_accepted() -> None:
    # 5 x log2(11172) = 67.2 true bits: the pool is every composed syllable
    rng = random.Random(11)
    scores = [bits("".join(chr(0xAC00 + rng.randrange(11172)) for _ in range(5)))
              for _ in range(300)]
    assert sum(b >= 60 for b in scores) >= 297
    assert statistics_median(scores) >= 64


def test_findings_name_the_language_and_the_layout() -> None:
    assert "a German word" in _entropy.findings("Willkommen1!")[1]
    assert "a Russian word" in _entropy.findings("Atcnbdfkm02")[1]
    assert "a keyboard walk on an AZERTY layout" in _entropy.findings("=)àç_è-('\"é")[1]
    assert "a keyboard walk on a Dvorak layout" in _entropy.findings("4p5y6f7g8c9r2024")[1]
    assert "a repeated word" in _entropy.findings("endocrinologistENDOCRINOLOGIST")[1]
    assert "a well-known number" in _entropy.findings("2718281828459045235")[1]
    b, found = _entropy.findings("Summer2024!")
    assert b == bits("Summer2024!") and "a year" in found


@pytest.mark.parametrize("word", ["Schmetterling", "ordinateur", "mariposa", "farfalla",
                                  "borboleta", "vlinder", "motyl", "fjäril",
                                  "sommerfugl", "kelebek", "бабочка", "πεταλούδα"])
def test_words_of_the_compiled_languages_are_cheap(word: str) -> None:
    m = mask(word)
    assert m & (DICTIONARY_WORD | COMMON_PASSWORD | NAME), word
    assert bits(word + "2024") < 40, word


def test_accents_are_folded_as_typists_fold_them() -> None:
    # with the accent, without it, and German letters spelled out
    for pw in ("Glückwünsche", "Gluckwunsche", "Glueckwuensche", "Straße", "Strasse"):
        assert bits(pw) < 35, pw
    assert bits("Fußballweltmeisterschaft") < 55


def test_ukrainian_words_are_found() -> None:
    # "Батьківщина" (homeland), and "незалежність" (independence) + a year
    assert "a Ukrainian word" in _entropy.findings("Батьківщина")[1]
    assert bits("Батьківщина") < 25
    assert bits("незалежність2024") < 30


def test_cyrillic_typed_on_qwerty_is_the_word() -> None:
    # "фестиваль" typed on a QWERTY keyboard is "atcnbdfkm"
    assert mask("atcnbdfkm") & DICTIONARY_WORD
    assert abs(bits("atcnbdfkm") - bits("фестиваль")) < 1.0


def test_unseen_pronounceable_words_cost_less_than_random_letters() -> None:
    # made-up but word-shaped: the character model prices them
    for pw in ("brantovelik", "grustemabor", "felinsothar"):
        assert mask(pw) & (WORDLIKE | DICTIONARY_WORD | NAME), pw
        assert bits(pw) < 11 * math.log2(26) - 12, pw
    assert mask("brantovelik") & WORDLIKE
    rng = random.Random(4)
    scores = [bits("".join(rng.choice(string.ascii_lowercase) for _ in range(14)))
              for _ in range(300)]
    assert sum(b >= 60 for b in scores) >= 293   # random letters keep their bits


def test_languages_without_a_list_read_as_words() -> None:
    # Czech words in no compiled list: the Latin model is also trained on
    # hunspell stems of eleven such languages (54.3 and 42.8 bits before)
    for pw in ("pozdravujeme", "kamaradstvo"):
        assert mask(pw) & WORDLIKE, pw
        assert bits(pw) < len(pw) * math.log2(26) - 12, pw


def test_month_names_of_every_cldr_language() -> None:
    # Finnish, Estonian, Croatian and Kazakh months (CLDR, through babel):
    # 31-46 bits each before, as letters no list had
    for pw in ("lokakuu", "joulukuu", "oktoober", "siječanj", "Желтоқсан"):
        assert mask(pw) & DATE, pw
        assert bits(pw) < 20, pw
        assert "a month name" in _entropy.findings(pw)[1], pw
    assert bits("Aigerim.17.желтоқсан.1986") < 55      # 109 bits before


KAZAKH = "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюя"


def test_other_cyrillic_alphabets_typed_on_russian_keys() -> None:
    # "қ", "ң" are typed as "к", "н" on a Russian keyboard: one word
    assert abs(bits("желтоқсан") - bits("желтоксан")) < 1.0
    # and matched exactly: random Kazakh letters (70 true bits) keep theirs
    rng = random.Random(4)
    scores = [bits("".join(rng.choice(KAZAKH) for _ in range(13))) for _ in range(300)]
    assert sum(b >= 60 for b in scores) >= 298


def test_listed_words_with_endings_no_list_has() -> None:
    # a word of the lists (or its stem) plus an ending priced by the model
    for pw in ("prezydentowie", "wonderfullest", "zielonawymi"):
        m = mask(pw)
        assert m & DICTIONARY_WORD and m & WORDLIKE, pw
        assert bits(pw) < len(pw) * math.log2(26) - 20, pw


def test_compound_parts_keep_the_case_style() -> None:
    # "Urteils" + "text": one capitalised compound, not two case styles
    assert bits("Urteilstext") - bits("urteilstext") <= 1.5
    assert bits("Kinderschoen") - bits("kinderschoen") <= 1.5


def test_digit_between_two_words_is_glue() -> None:
    assert bits("romeo4juliet") <= bits("romeojuliet") + 5
    assert bits("romeo4juliet") < 35


def test_affixes_priced_like_a_pcfg() -> None:
    # "!" is the commonest appended symbol, a recent year a year
    assert bits("Summer2024!") < bits("Summer2024^")
    assert mask("Summer2024!") & YEAR
    # digits in front of a word are a rule, not a run of brute force
    assert bits("2Papyrologie") - bits("Papyrologie") < 8


@pytest.mark.parametrize("walk", ["azertyuiop", "&é\"'(-è_", "qwertzuiopü", "ysxdcfvgbh",
                                  "',.pyfgcrl", "aoeuidhtns", "йцукенгшщз", "!\"№;%:?*()"])
def test_walks_on_other_keyboard_layouts(walk: str) -> None:
    # "azertyuiop" and "йцукенгшщз" (typed "qwertyuiop") are also common passwords
    assert mask(walk) & (KEYBOARD | COMMON_PASSWORD), walk
    assert bits(walk) < 30, walk


def test_separators_every_few_characters_are_undone() -> None:
    for pw in ("pa-ss-wo-rd-12-34-56", "Pa_ss_Wo_rd_20_24", "sum.mer.201.9",
               "p a s s w o r d 1 2 3"):
        assert mask(pw) & SEPARATORS, pw
        assert bits(pw) < 35, pw


def test_counters_and_case_changed_repeats() -> None:
    assert mask("abc123abc124abc125abc126") & INCREMENT
    assert mask("Password1!Password2!Password3!") & INCREMENT
    assert mask("endocrinologistENDOCRINOLOGIST") & REPEATED_WORD
    assert bits("Sunshine2024SUNSHINE2024") < bits("Sunshine2024") + 6


def test_digits_of_well_known_constants() -> None:
    for pw in ("3141592653589793", "3.14159265358979", "1414213562373095",
               "161803398874989484"):
        assert mask(pw) & NUMBER, pw
        assert bits(pw) < 20, pw


def test_well_known_phrases() -> None:
    assert mask("thequickbrownfoxjumpsoverthelazydog") & PHRASE
    assert bits("MayTheForceBeWithYou") < 30


def test_core_sees_through_disguises_in_layers() -> None:
    # a separator between doubled characters: two layers, undone in the core
    # (SQL entropy_bits, Python and the policy agree)
    assert bits("pp--aa--ss--ww--oo--rr--dd") < 40
    assert _entropy.contains_word_undisguised("r-e-g-r-e-s-s-_-a-l-i-c-e-x-9", "regress_alice")
    assert _entropy.contains_word_undisguised("rreeggrreessss__aalliiccee", "regress_alice")
    assert not _entropy.contains_word_undisguised("r-e-g-r-e-s-s", "regress_alice")


@pytest.mark.parametrize("shape", ["1password", "safari", "bitwarden"])
def test_password_manager_shapes_are_accepted(shape: str) -> None:
    rng = random.Random(hash(shape) & 0xFFFF)
    alnum = string.ascii_lowercase + string.digits
    ok = 0
    for _ in range(200):
        if shape == "1password":
            pw = "-".join("".join(rng.choice(alnum) for _ in range(5)) for _ in range(3))
        elif shape == "safari":
            s = [rng.choice(alnum) for _ in range(18)]
            s[rng.randrange(18)] = rng.choice(string.ascii_uppercase)
            pw = "".join(s[:6]) + "-" + "".join(s[6:12]) + "-" + "".join(s[12:])
        else:
            pw = "-".join("".join(rng.choice(string.ascii_lowercase) for _ in range(7))
                          .capitalize() for _ in range(4)) + str(rng.randrange(10))
        ok += bits(pw) >= 60
    assert ok >= 196


def test_generated_tables_are_current() -> None:
    # the committed ext/entropy_data.h was generated from the committed
    # lists, generator and pinned packages (make check-entropy-data
    # regenerates everything; this only recomputes the fingerprint)
    import hashlib
    import re
    root = ROOT
    header = (root / "ext" / "entropy_data.h").read_text()
    m = re.search(r'PGW_DATA_FINGERPRINT\t"([0-9a-f]{64})"', header)
    assert m
    h = hashlib.sha256()
    for p in sorted((root / "ext" / "dict").glob("*.txt")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update((root / "tools" / "gen_entropy_data.py").read_bytes())
    h.update((root / "tools" / "requirements.txt").read_bytes())
    assert h.hexdigest() == m.group(1), "run make update-entropy-data"
