#!/bin/sh
# Build the libFuzzer target over ext/entropy.c with ASan + UBSan and run it.
#
#   bench/fuzz/run.sh [N]   N executions in all (default 200000); exit status 0
#                           only if there was no crash, sanitizer report or
#                           breach of the per-call time bound.
#
# Environment: FUZZ_JOBS (parallel jobs sharing N, default 1), FUZZ_MAX_LEN
# (longest input in bytes, default 256: two analysis windows), FUZZ_OUT (work
# directory), FUZZ_CC (default clang-14).  Needs clang-14 and
# libclang-rt-14-dev (apt-get install clang-14 libclang-rt-14-dev).
set -eu
N=${1:-200000}
JOBS=${FUZZ_JOBS:-1}
MAXLEN=${FUZZ_MAX_LEN:-256}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CC=${FUZZ_CC:-clang-14}
OUT=${FUZZ_OUT:-$(mktemp -d /tmp/pgw-fuzz.XXXXXX)}
mkdir -p "$OUT/corpus"
# seeds: patterned and random passwords, contexts, non-ASCII, a long input
printf 'Summer2024!' > "$OUT/corpus/s1"
printf 'P@ssw0rd123\377alice\000appdb\377alice' > "$OUT/corpus/s2"
printf 'qwertyqwertyqwerty' > "$OUT/corpus/s3"
printf '12/05/1987\377' > "$OUT/corpus/s4"
printf '\346\210\221\347\210\261\344\275\240\320\277\320\260\321\200\320\276\320\273\321\214' > "$OUT/corpus/s5"
printf 'Aigerim.17.\320\266\320\265\320\273\321\202\320\276\322\233\321\201\320\260\320\275.1986' > "$OUT/corpus/s7"
head -c 3000 /dev/zero | tr '\0' 'a' > "$OUT/corpus/s6"
"$CC" -g -O2 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I "$ROOT/ext" "$HERE/entropy_fuzz.c" "$ROOT/ext/entropy.c" \
    "$ROOT/ext/entropy_data.c" -lm -o "$OUT/entropy_fuzz"
echo "fuzzing $N executions in $JOBS job(s), inputs up to $MAXLEN bytes (work dir $OUT)"
start=$(date +%s)
cd "$OUT"
PER=$(( (N + JOBS - 1) / JOBS ))
status=0
if [ "$JOBS" -gt 1 ]; then
    # each job runs PER executions; libFuzzer writes fuzz-<i>.log here
    ./entropy_fuzz -runs="$PER" -max_len="$MAXLEN" -timeout=5 -rss_limit_mb=2048 \
        -print_final_stats=1 -jobs="$JOBS" -workers="$JOBS" corpus >jobs.txt 2>&1 || status=$?
    cat fuzz-*.log > log.txt
else
    ./entropy_fuzz -runs="$PER" -max_len="$MAXLEN" -timeout=5 -rss_limit_mb=2048 \
        -print_final_stats=1 corpus 2>log.txt || status=$?
fi
end=$(date +%s)
done_runs=$(grep -h "stat::number_of_executed_units" log.txt | awk '{s += $2} END {print s + 0}')
if [ "$status" -ne 0 ] || grep -q "ERROR: \|runtime error\|time bound broken\|deadly signal" log.txt \
        || [ "$done_runs" -lt "$N" ]; then
    tail -40 log.txt
    echo "FUZZ FAILED (status $status, $done_runs of $N executions)"
    exit 1
fi
echo "fuzz OK: $done_runs executions in $((end - start)) s, no crash, no sanitizer report, no time-bound breach"
