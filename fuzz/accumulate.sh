#!/usr/bin/env bash
# Grows the committed corpora: fuzzes each target for FUZZ_SECONDS (default 120) starting
# from fuzz/corpus/<target>/ (committed), minimises the corpus (cargo fuzz cmin), caps it
# (files over MAX_FILE bytes dropped, then the largest files until the target's corpus is
# under MAX_CORPUS bytes), and adds the run's time and executions to fuzz/stats.tsv, whose
# totals fuzz/README.md shows. Commit fuzz/corpus, fuzz/stats.tsv and fuzz/README.md after.
#
#   bash fuzz/accumulate.sh                      # every target, 120 s each
#   FUZZ_SECONDS=600 bash fuzz/accumulate.sh names tag_list
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
FUZZ_SECONDS="${FUZZ_SECONDS:-120}"
MAX_FILE="${MAX_FILE:-65536}"
MAX_CORPUS="${MAX_CORPUS:-1048576}"

bash fuzz/seed.sh
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
cargo fuzz build
mkdir -p fuzz/artifacts
[ -f fuzz/stats.tsv ] || printf 'date\ttarget\tseconds\texecutions\n' > fuzz/stats.tsv
for t in "${targets[@]}"; do
    corpus="fuzz/corpus/$t"
    mkdir -p "$corpus"
    log="fuzz/artifacts/$t.accumulate.log"
    echo "== $t: fuzzing ${FUZZ_SECONDS}s from $(find "$corpus" -type f | wc -l) inputs"
    cargo fuzz run "$t" "$corpus" -- -max_total_time="$FUZZ_SECONDS" -timeout=20 \
        -rss_limit_mb=2048 -max_len="$MAX_FILE" -print_final_stats=1 >"$log" 2>&1
    execs=$(awk '/stat::number_of_executed_units:/ { n += $2 } END { print n + 0 }' "$log")
    cargo fuzz cmin "$t" "$corpus" -- -rss_limit_mb=2048 >"$log.cmin" 2>&1
    find "$corpus" -type f -size +"$MAX_FILE"c -delete
    while [ "$(du -sb "$corpus" | cut -f1)" -gt "$MAX_CORPUS" ]; do
        find "$corpus" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2- | xargs rm -f
    done
    printf '%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%d)" "$t" "$FUZZ_SECONDS" "$execs" >> fuzz/stats.tsv
    echo "   $execs executions; corpus $(find "$corpus" -type f | wc -l) files, $(du -sh "$corpus" | cut -f1)"
done

# The table in fuzz/README.md, between its markers.
python3 - <<'PY'
import collections, os, re
rows = [l.rstrip("\n").split("\t") for l in open("fuzz/stats.tsv")][1:]
tot = collections.OrderedDict()
for d, t, s, e in rows:
    a = tot.setdefault(t, [0, 0, 0])
    a[0] += int(s); a[1] += int(e); a[2] += 1
lines = ["| target | runs | cumulative time | cumulative executions | corpus files | corpus size |",
         "|--------|-----:|----------------:|----------------------:|-------------:|------------:|"]
for t, (s, e, n) in sorted(tot.items()):
    d = f"fuzz/corpus/{t}"
    files = [os.path.join(d, f) for f in os.listdir(d)] if os.path.isdir(d) else []
    size = sum(os.path.getsize(f) for f in files)
    lines.append(f"| `{t}` | {n} | {s // 60} min {s % 60} s | {e:,} | {len(files)} | {size // 1024} KiB |")
readme = open("fuzz/README.md").read()
table = "\n".join(lines)
readme = re.sub(r"<!-- stats -->.*<!-- /stats -->", "<!-- stats -->\n" + table + "\n<!-- /stats -->",
                readme, flags=re.S)
open("fuzz/README.md", "w").write(readme)
PY
echo "fuzz/accumulate.sh: done; commit fuzz/corpus fuzz/stats.tsv fuzz/README.md"
