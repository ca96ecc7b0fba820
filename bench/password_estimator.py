#!/usr/bin/env python3
"""Benchmark of pgwarden's password estimator against the alternatives.

Prints, in one run:

* for pgwarden, contrib passwordcheck's rules, a character-class formula
  (length x log2 pool), zxcvbn (PyPI) and zxcvbn-c (Debian libzxcvbn, via
  ctypes, benchmark only): the share of weak passwords accepted at 60 bits
  and the share of random passwords of >= 64 true bits accepted, on the
  held-out corpus (base lists not compiled into pgwarden) and on the tuning
  corpus;
* per-generator acceptance for every estimator;
* speed: median microseconds per check through the C core
  (bench/entropy_speed.c, compiled and run here), per check from Python for
  pgwarden and zxcvbn, and the time of 1 MiB inputs.

Corpora: bench/corpus/generate.py (fixed seeds).  Usage:

    python bench/password_estimator.py [--quick] [--markdown]

The default run takes a few minutes; --quick uses a tenth of the corpus.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import importlib
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "corpus"))

THRESHOLD = 60.0
SEEDS = {"tune": 1, "held-out": 2}


def need(module: str, pip_name: str | None = None) -> object:
    """Import a bench-only dependency, installing it with pip if missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        print(f"# installing bench dependency {pip_name or module}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                        pip_name or module], check=True)
        return importlib.import_module(module)


# ---------------------------------------------------------------------------
# The estimators under test
# ---------------------------------------------------------------------------

def build_c(tmp: pathlib.Path, ext: pathlib.Path = ROOT / "ext",
            tag: str = "") -> tuple[pathlib.Path, pathlib.Path]:
    """Compile the core of ext (entropy.c, entropy_data.c) as a shared
    library and the C speed benchmark."""
    cc = os.environ.get("CC", "cc")
    src = [str(ext / "entropy.c"), str(ext / "entropy_data.c")]
    lib = tmp / f"libpgwentropy{tag}.so"
    speed = tmp / f"entropy_speed{tag}"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-I", str(ext),
                    *src, "-lm", "-o", str(lib)], check=True)
    subprocess.run([cc, "-O2", "-I", str(ext),
                    str(HERE / "entropy_speed.c"), *src, "-lm", "-o",
                    str(speed)], check=True)
    return lib, speed


class Pgwarden:
    name = "pgwarden"

    def __init__(self, lib: pathlib.Path, name: str | None = None,
                 binding: bool = True) -> None:
        if name is not None:
            self.name = name
        try:
            if not binding:
                raise ImportError("the baseline is always called through ctypes")
            from pgwarden import _entropy  # the Cython binding
            self.estimate = _entropy.estimate
            self.via = "pgwarden._entropy (Cython)"
        except ImportError:
            self.via = "ctypes (pgwarden._entropy not importable)"
            self._lib = ctypes.CDLL(str(lib))

            class Est(ctypes.Structure):
                _fields_ = [("bits", ctypes.c_double),
                            ("patterns", ctypes.c_uint),
                            ("codepoints", ctypes.c_size_t),
                            ("dictionaries", ctypes.c_uint),
                            ("layouts", ctypes.c_uint)]
            self._Est = Est

            def estimate(pw: str, context: tuple[str, ...] = ()) -> tuple[float, int]:
                b = pw.encode("utf-8", "surrogatepass")
                arr = (ctypes.c_char_p * max(1, len(context)))(
                    *[c.encode() for c in context])
                e = Est()
                rc = self._lib.pgw_estimate_entropy(b, len(b), arr,
                                                    len(context), ctypes.byref(e))
                if rc != 0:
                    raise ValueError("invalid password")
                return e.bits, e.patterns
            self.estimate = estimate

    def bits(self, s) -> float:
        return self.estimate(s.password, s.context)[0]

    def accepts(self, s) -> bool:
        # as the server does: the estimate, and never the role name inside
        if s.username and s.username.lower() in s.password.lower():
            return False
        return self.bits(s) >= THRESHOLD


class PasswordCheck:
    """contrib/passwordcheck's rules, reimplemented."""
    name = "passwordcheck rules"

    def accepts(self, s) -> bool:
        pw = s.password
        if len(pw) < 8:
            return False
        if s.username and s.username in pw:
            return False
        has_letter = any(c.isalpha() for c in pw)
        has_nonletter = any(not c.isalpha() for c in pw)
        return has_letter and has_nonletter


class ClassFormula:
    """length x log2(pool of the character classes present)."""
    name = "length x log2(pool)"

    @staticmethod
    def bits_of(pw: str) -> float:
        pool = 0
        if any(c.islower() for c in pw):
            pool += 26
        if any(c.isupper() for c in pw):
            pool += 26
        if any(c.isdigit() for c in pw):
            pool += 10
        if any(not c.isalnum() for c in pw):
            pool += 33
        return len(pw) * math.log2(pool) if pool else 0.0

    def accepts(self, s) -> bool:
        return self.bits_of(s.password) >= THRESHOLD


class ZxcvbnPy:
    name = "zxcvbn (PyPI)"

    def __init__(self) -> None:
        mod = need("zxcvbn")
        self.zxcvbn = mod.zxcvbn
        try:
            from importlib.metadata import version
            self.version = version("zxcvbn")
        except Exception:  # noqa: BLE001 - the version is only printed
            self.version = "?"

    def bits(self, s) -> float:
        # zxcvbn 4.5 refuses more than 72 characters unless told otherwise
        r = self.zxcvbn(s.password, user_inputs=list(s.context), max_length=1024)
        return float(r["guesses_log10"]) * math.log2(10)

    def accepts(self, s) -> bool:
        return self.bits(s) >= THRESHOLD


class ZxcvbnC:
    name = "zxcvbn-c (libzxcvbn)"

    def __init__(self) -> None:
        path = ctypes.util.find_library("zxcvbn")
        if path is None:
            raise SystemExit("libzxcvbn not found: apt-get install libzxcvbn-dev")
        self.lib = ctypes.CDLL(path)
        self.lib.ZxcvbnMatch.restype = ctypes.c_double
        self.lib.ZxcvbnMatch.argtypes = [ctypes.c_char_p,
                                         ctypes.POINTER(ctypes.c_char_p),
                                         ctypes.c_void_p]

    def bits(self, s) -> float:
        ctx = [c.encode() for c in s.context] + [None]
        arr = (ctypes.c_char_p * len(ctx))(*ctx)
        return self.lib.ZxcvbnMatch(s.password.encode("utf-8"), arr, None)

    def accepts(self, s) -> bool:
        return self.bits(s) >= THRESHOLD


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def rate(est, samples) -> float:
    if not samples:
        return float("nan")
    return 100.0 * sum(1 for s in samples if est.accepts(s)) / len(samples)


def subsample(samples, n):
    if len(samples) <= n:
        return samples
    step = len(samples) / n
    return [samples[int(i * step)] for i in range(n)]


def pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f} %"


def per_check_us(fn, samples, repeat: int = 3) -> float:
    """Median over samples of the best-of-repeat time of one call, in µs."""
    times = []
    for s in samples:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter_ns()
            fn(s)
            best = min(best, time.perf_counter_ns() - t0)
        times.append(best / 1000.0)
    return statistics.median(times)


def _elf_alloc_bytes(path: pathlib.Path) -> int:
    """Sum of the SHF_ALLOC sections of a 64-bit little-endian ELF object."""
    import struct
    data = path.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    total = 0
    for i in range(shnum):
        off = shoff + i * shentsize
        _sh_type, sh_flags = struct.unpack_from("<IQ", data, off + 4)
        sh_size, = struct.unpack_from("<Q", data, off + 32)
        if sh_flags & 0x2:          # SHF_ALLOC
            total += sh_size
    return total


def _timed(fn, arg) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return (time.perf_counter() - t0) * 1000.0


def machine() -> str:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, {platform.platform()}, Python {platform.python_version()}"


def main() -> int:
    if os.environ.get("PYTHONHASHSEED") != "0":
        # The corpora must not depend on Python's string hashing: Faker's
        # it_IT cities (tune half) are drawn in the order of a set.
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  {**os.environ, "PYTHONHASHSEED": "0"})
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="a tenth of the corpus (for iterating)")
    ap.add_argument("--zxcvbn-per-generator", type=int, default=300,
                    help="samples per generator for zxcvbn (PyPI), which is slow")
    ap.add_argument("--show-accepted", type=int, default=0, metavar="N",
                    help="print up to N accepted weak passwords per generator "
                         "(corpus data, not user data)")
    ap.add_argument("--baseline", metavar="EXT", type=pathlib.Path,
                    help="also judge the estimator of another ext/ directory "
                         "(entropy.c, entropy_data.c, entropy.h: e.g. an earlier "
                         "commit's), as the column 'pgwarden before'")
    args = ap.parse_args()

    for mod, pipname in (("xkcdpass", None), ("wordfreq", None), ("names", None),
                         ("mimesis", None), ("faker", "Faker")):
        need(mod, pipname)
    import generate

    scale = 0.1 if args.quick else 1.0
    weak_n, rand_n, longer_n = int(5000 * scale), int(5000 * scale), int(1000 * scale)
    t_start = time.time()
    halves = {}
    for half, seed in SEEDS.items():
        k = 0.6 if half == "tune" else 1.0
        halves[half] = generate.build(half, seed, int(weak_n * k), int(rand_n * k),
                                      int(longer_n * k))

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="pgw-bench-"))
    lib, speed = build_c(tmp)
    pgw = Pgwarden(lib)
    ests = [pgw, PasswordCheck(), ClassFormula(), ZxcvbnPy(), ZxcvbnC()]
    speed_before = None
    if args.baseline is not None:
        lib0, speed_before = build_c(tmp, args.baseline.resolve(), "-before")
        ests.append(Pgwarden(lib0, "pgwarden before", binding=False))
    zx_n = max(1, int(args.zxcvbn_per_generator * (0.3 if args.quick else 1.0)))

    print(f"# pgwarden password estimator benchmark — threshold {THRESHOLD:.0f} bits")
    print(f"# machine: {machine()}")
    print(f"# pgwarden called through {pgw.via}")
    print(f"# zxcvbn (PyPI) {ests[3].version} judged on {zx_n} samples per generator; "
          f"the others on every sample")
    print()

    # ---- corpus description
    for half, gens in halves.items():
        print(f"## corpus: {half} (seed {SEEDS[half]})")
        print()
        print("| generator | kind | space (bits) | samples |")
        print("| --- | --- | ---: | ---: |")
        for g in gens:
            print(f"| {g.name} | {g.kind}{' (longer)' if g.longer else ''} | "
                  f"{g.space_bits:.1f} | {len(g.samples)} |")
        nweak = sum(len(g.samples) for g in gens if g.kind == "weak")
        nrand = sum(len(g.samples) for g in gens if g.kind == "random" and not g.longer)
        nlong = sum(len(g.samples) for g in gens if g.longer)
        print(f"\n{half}: {nweak} weak, {nrand} random (required kinds), "
              f"{nlong} random (longer)\n")

    # ---- acceptance
    results = {}
    for half, gens in halves.items():
        for est in ests:
            for g in gens:
                samples = g.samples
                if isinstance(est, ZxcvbnPy):
                    samples = subsample(samples, zx_n)
                results[(half, est.name, g.name)] = (rate(est, samples), len(samples))

    def pooled(half, est, pred):
        acc = tot = 0.0
        for g in halves[half]:
            if pred(g):
                r, n = results[(half, est.name, g.name)]
                acc += r * n / 100.0
                tot += n
        return 100.0 * acc / tot if tot else float("nan")

    def is_weak(g):
        return g.kind == "weak"

    def is_rand(g):
        return g.kind == "random" and not g.longer

    def is_long(g):
        return g.longer

    print("## summary (held-out corpus; targets: weak <= 1 %, random >= 99.5 %)")
    print()
    print("| estimator | weak accepted | random ≥64 bits accepted | longer random accepted | weak accepted (tune) | random accepted (tune) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for est in ests:
        print(f"| {est.name} | {pct(pooled('held-out', est, is_weak))} | "
              f"{pct(pooled('held-out', est, is_rand))} | "
              f"{pct(pooled('held-out', est, is_long))} | "
              f"{pct(pooled('tune', est, is_weak))} | {pct(pooled('tune', est, is_rand))} |")
    print()

    for half in ("held-out", "tune"):
        print(f"## accepted per generator ({half})")
        print()
        print("| generator | " + " | ".join(e.name for e in ests) + " |")
        print("| --- |" + " ---: |" * len(ests))
        for g in halves[half]:
            cells = [pct(results[(half, e.name, g.name)][0]) for e in ests]
            print(f"| {g.name} | " + " | ".join(cells) + " |")
        print()

    if args.show_accepted:
        for g in halves["held-out"]:
            if g.kind != "weak":
                continue
            acc = [s.password for s in g.samples if pgw.accepts(s)]
            if acc:
                print(f"# accepted weak ({g.name}): {acc[:args.show_accepted]!r}")
        for g in halves["held-out"]:
            if g.kind != "random":
                continue
            rej = [(s.password, round(pgw.bits(s), 1)) for s in g.samples
                   if not pgw.accepts(s)]
            if rej:
                print(f"# rejected random ({g.name}): {rej[:args.show_accepted]!r}")
        print()

    # ---- pgwarden bits distribution on random passwords
    print("## pgwarden estimate on random passwords (held-out): true bits vs estimate")
    print()
    print("| generator | true bits | min | 1st pct | median |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for g in halves["held-out"]:
        if g.kind != "random":
            continue
        b = sorted(pgw.bits(s) for s in g.samples)
        print(f"| {g.name} | {g.space_bits:.1f} | {b[0]:.1f} | {b[len(b) // 100]:.1f} | "
              f"{b[len(b) // 2]:.1f} |")
    print()

    # ---- speed
    every = [s for g in halves["held-out"] for s in g.samples]
    pwfile = tmp / "passwords.txt"
    with open(pwfile, "w", encoding="utf-8") as f:
        f.writelines(s.password + "\n" for s in every)
    out = subprocess.run([str(speed), str(pwfile), "20"], check=True,
                         capture_output=True, text=True).stdout
    c = dict(line.split() for line in out.splitlines())
    c0 = None
    if speed_before is not None:
        out0 = subprocess.run([str(speed_before), str(pwfile), "20"], check=True,
                              capture_output=True, text=True).stdout
        c0 = dict(line.split() for line in out0.splitlines())
    os.unlink(pwfile)
    sample = subsample(every, 3000)
    zx = ests[3]
    zx_sample = subsample(every, 600 if not args.quick else 150)
    py_pgw = per_check_us(lambda s: pgw.estimate(s.password, s.context), sample)
    py_pgw_zs = per_check_us(lambda s: pgw.estimate(s.password, s.context), zx_sample)
    py_zx = per_check_us(lambda s: zx.bits(s), zx_sample, repeat=1)
    zc = ests[4]
    py_zc = per_check_us(lambda s: zc.bits(s), sample)
    mib = {k[4:-3]: float(v) for k, v in c.items() if k.startswith("mib_")}
    rng = generate.random.Random(3)
    big = "".join(rng.choice(generate.ALNUM) for _ in range(1 << 20))
    py_mib = min(_timed(pgw.estimate, big) for _ in range(3))

    # ---- size of the compiled dictionaries
    obj = tmp / "entropy_data.o"
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-fPIC", "-c",
                    str(ROOT / "ext" / "entropy_data.c"), "-o", str(obj)], check=True)
    dict_bytes = _elf_alloc_bytes(obj)

    print("## size")
    print()
    print(f"compiled dictionaries (ext/entropy_data.o, allocated sections): "
          f"{dict_bytes / 2**20:.2f} MiB (target ≤ 8 MiB)")
    if args.baseline is not None:
        obj0 = tmp / "entropy_data-before.o"
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-fPIC", "-c",
                        str(args.baseline / "entropy_data.c"), "-o", str(obj0)], check=True)
        print(f"before: {_elf_alloc_bytes(obj0) / 2**20:.2f} MiB")
    print()

    print("## speed")
    print()
    print("| measure | value | target |")
    print("| --- | ---: | --- |")
    print(f"| C core, median per check (≤ 64 code points, {c['passwords']} passwords, best of 20) | {float(c['median_us']):.2f} µs | ≤ 10 µs |")
    print(f"| C core, 90th / 99th percentile / max | {float(c['p90_us']):.2f} / {float(c['p99_us']):.2f} / {float(c['max_us']):.2f} µs | |")
    print(f"| pgwarden from Python ({pgw.via.split()[0]}), median per check | {py_pgw:.2f} µs | |")
    print(f"| zxcvbn (PyPI) from Python, median per check | {py_zx:.1f} µs | |")
    print(f"| pgwarden speed-up over zxcvbn (PyPI), same {len(zx_sample)} passwords | {py_zx / py_pgw_zs:.0f}× | ≥ 100× |")
    print(f"| zxcvbn-c via ctypes, median per check | {py_zc:.2f} µs | |")
    print(f"| pgwarden (Python) / zxcvbn-c (ctypes), median per check | {py_pgw / py_zc:.2f} | |")
    for k, v in mib.items():
        print(f"| 1 MiB input ({k}), C core | {v:.2f} ms | < 50 ms |")
    if c0 is not None:
        print(f"| before: C core, median per check | {float(c0['median_us']):.2f} µs | |")
        print(f"| before: C core, 90th / 99th percentile / max | {float(c0['p90_us']):.2f} / "
              f"{float(c0['p99_us']):.2f} / {float(c0['max_us']):.2f} µs | |")
        for k, v in c0.items():
            if k.startswith("mib_"):
                print(f"| before: 1 MiB input ({k[4:-3]}), C core | {float(v):.2f} ms | |")
    print(f"| 1 MiB input (random alphanumeric) from Python, best of 3 | {py_mib:.2f} ms | < 50 ms |")
    print()
    print(f"# total bench time {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
