# cython: language_level=3
"""Thin binding of ext/entropy.c, the estimator the server extension runs."""

from libc.stdlib cimport malloc, free

cdef extern from "entropy.h":
    ctypedef struct pgw_estimate:
        double bits
        unsigned int patterns
        size_t codepoints
        unsigned int dictionaries
        unsigned int layouts
    int PGW_OK
    int PGW_INVALID_UTF8
    int PGW_PAT_COUNT
    int pgw_estimate_entropy(const char *password, size_t len,
                             const char *const *context, size_t ncontext,
                             pgw_estimate *out) nogil
    const char *pgw_pattern_description(unsigned int pattern_bit)
    size_t pgw_describe_estimate(const pgw_estimate *est, char *buf, size_t buflen)
    int pgw_contains_word(const char *password, size_t len, const char *word)
    int pgw_contains_word_undisguised(const char *password, size_t len, const char *word)


cdef int _estimate(str password, context, pgw_estimate *est) except -1:
    cdef bytes pw = password.encode("utf-8", "surrogatepass")
    cdef list ctx = [str(w).encode("utf-8", "surrogatepass") for w in context]
    cdef Py_ssize_t n = len(ctx), i
    cdef const char **cctx = NULL
    cdef int rc
    cdef const char *cpw = pw
    cdef size_t cpwlen = len(pw)
    if n:
        cctx = <const char **> malloc(n * sizeof(char *))
        if cctx == NULL:
            raise MemoryError()
    try:
        for i in range(n):
            cctx[i] = <const char *> (<bytes> ctx[i])
        with nogil:
            rc = pgw_estimate_entropy(cpw, cpwlen, cctx, <size_t> n, est)
    finally:
        free(cctx)
    if rc == PGW_INVALID_UTF8:
        raise ValueError("password is not valid UTF-8")
    if rc != PGW_OK:
        raise RuntimeError("could not estimate the strength of the password")
    return 0


def estimate(str password, context=()):
    """Return (bits, pattern mask) for password; context words are known to the attacker."""
    cdef pgw_estimate est
    _estimate(password, context, &est)
    return est.bits, est.patterns


def findings(str password, context=()):
    """Return (bits, findings) as the server's policy reports them.

    The findings name the dictionaries ("a German word") and keyboard layouts
    ("a keyboard walk on an AZERTY layout") of the cheapest decomposition.
    """
    cdef pgw_estimate est
    cdef char buf[1024]
    _estimate(password, context, &est)
    pgw_describe_estimate(&est, buf, sizeof(buf))
    text = buf.decode("utf-8")
    return est.bits, text.split(", ") if text else []


def describe(unsigned int mask):
    """English phrases for each pattern bit set in mask, in bit order."""
    cdef list out = []
    cdef unsigned int bit
    cdef const char *text
    for i in range(PGW_PAT_COUNT):
        bit = 1u << i
        if mask & bit:
            text = pgw_pattern_description(bit)
            if text != NULL:
                out.append(text.decode("utf-8"))
    return out


def contains_word(str password, str word):
    """True when word occurs in password, ignoring ASCII case."""
    cdef bytes pw = password.encode("utf-8", "surrogatepass")
    cdef bytes w = word.encode("utf-8", "surrogatepass")
    return pgw_contains_word(pw, len(pw), w) != 0


def contains_word_undisguised(str password, str word):
    """True when word occurs in password, also behind separators or doubled characters."""
    cdef bytes pw = password.encode("utf-8", "surrogatepass")
    cdef bytes w = word.encode("utf-8", "surrogatepass")
    return pgw_contains_word_undisguised(pw, len(pw), w) != 0
