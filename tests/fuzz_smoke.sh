#!/usr/bin/env bash
# Fuzz smoke test: builds the cargo-fuzz targets in fuzz/, seeds their corpora from the test
# fixtures (fuzz/seed.sh), fuzzes each target for FUZZ_SECONDS (default 30), then replays the
# whole corpus plus the committed crash inputs in fuzz/regressions/<target>/ once as a
# regression run. Exits non-zero if any target crashed (inputs land in fuzz/artifacts/).
#
#   bash tests/fuzz_smoke.sh                  # every target, 30 s each
#   FUZZ_SECONDS=10 bash tests/fuzz_smoke.sh names tag_list
#
# Env: FUZZ_SECONDS, FUZZ_ARGS (extra libFuzzer flags, e.g. -max_len=8192),
# CARGO_FUZZ_VERSION (installed when cargo-fuzz is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
# cargo-fuzz needs nightly flags (-Zsanitizer); the stable toolchain accepts them with this.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
cargo fuzz --version

echo "== seeding corpora"
bash fuzz/seed.sh

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${#targets[@]} targets"
cargo fuzz build

failed=()
summary=()
for t in "${targets[@]}"; do
    corpus="fuzz/corpus/$t"
    regressions="fuzz/regressions/$t"
    mkdir -p "$corpus"
    log="fuzz/artifacts/$t.log"
    mkdir -p "fuzz/artifacts/$t"

    echo "== fuzzing $t for ${FUZZ_SECONDS}s"
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    if cargo fuzz run "$t" "$corpus" -- -max_total_time="$FUZZ_SECONDS" -timeout=20 \
        -rss_limit_mb=2048 -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1; then
        execs=$(awk '/stat::number_of_executed_units:/ { n += $2 } END { print n + 0 }' "$log")
        summary+=("$t: ok, $execs executions, corpus $(find "$corpus" -type f | wc -l) files")
    else
        echo "!! $t crashed; log: $log"
        grep -E -A30 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -60 || true
        failed+=("$t (fuzzing)")
        summary+=("$t: CRASH (see $log and fuzz/artifacts/$t/)")
        continue
    fi

    echo "== regression run of $t over its corpus and $regressions"
    dirs=("$corpus")
    if [ -d "$regressions" ]; then dirs+=("$regressions"); fi
    if ! cargo fuzz run "$t" "${dirs[@]}" -- -runs=0 -timeout=20 -rss_limit_mb=2048 \
        >"$log.replay" 2>&1; then
        echo "!! $t fails on a stored input; log: $log.replay"
        grep -E -A30 'panicked|ERROR: libFuzzer|SUMMARY' "$log.replay" | head -60 || true
        failed+=("$t (regression)")
    fi
done

echo "== summary"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz smoke test FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz smoke test passed: ${#targets[@]} targets"
