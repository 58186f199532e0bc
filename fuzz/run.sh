#!/bin/sh
# Runs one fuzz target with cargo-afl on the stable toolchain.
#   fuzz/run.sh TARGET [SECONDS]     TARGET: parse | check | compile | structured
# Seeds come from policies/ and fixtures/ (text targets) or a few random
# byte strings (structured); findings land in fuzz/out/TARGET/default/crashes.
set -eu
cd "$(dirname "$0")"
target=$1
secs=${2:-600}
cargo afl build --release --bin "$target" >/dev/null
in=corpus/$target
mkdir -p "$in" out
if [ "$target" = structured ]; then
    for i in 0 1 2 3 4 5 6 7; do
        head -c $((11 + i * 5)) /dev/urandom > "$in/seed$i"
    done
else
    find ../policies ../fixtures -name '*.moat' -size -64k 2>/dev/null | while read -r f; do
        cp "$f" "$in/$(echo "$f" | tr '/.' '__')"
    done
fi
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
nice -n 10 cargo afl fuzz -i "$in" -o "out/$target" -x moat.dict -V "$secs" -- "target/release/$target" >"out/$target.log" 2>&1 || true
grep -E '^(run_time|execs_done|execs_per_sec|saved_crashes|saved_hangs|corpus_count|stability)' "out/$target/default/fuzzer_stats"
