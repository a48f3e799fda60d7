#!/usr/bin/env bash
# Exports the same data with two exportd binaries and compares every
# chunk's bytes: ndjson and csv, zstd, gzip and none, sorted by createdAt
# descending, 7,000 records a chunk (json is left out: its envelope's
# generatedAt is the moment each export was created).
#
#   scripts/same-bytes.sh OLD_EXPORTD NEW_EXPORTD MONGODB_URI [WORKDIR]
#
# For example, against a devmongo seeded with `devmongo seed -n 30000`,
# with OLD_EXPORTD built from an earlier commit (git worktree add …).
set -euo pipefail
old=$1 new=$2 uri=$3 work=${4:-$(mktemp -d)}
status=0
for f in ndjson csv; do
  for c in zstd gzip none; do
    extra=()
    [ "$f" = csv ] && extra=(--fields _id,title,status,priority,createdAt,tags,assignee.email)
    for side in old new; do
      bin=$old; [ "$side" = new ] && bin=$new
      rm -rf "$work/$side-$f-$c"
      "$bin" export --uri "$uri" --db app --collection tasks --format "$f" --compression "$c" \
        --chunk-records 7000 --sort '{"createdAt": -1}' "${extra[@]}" --quiet --out "$work/$side-$f-$c"
    done
    a=$(cd "$work/old-$f-$c" && sha256sum chunk-* | sha256sum | cut -c1-16)
    b=$(cd "$work/new-$f-$c" && sha256sum chunk-* | sha256sum | cut -c1-16)
    n=$(ls "$work/new-$f-$c"/chunk-* | wc -l)
    if [ "$a" = "$b" ]; then verdict=same; else verdict=DIFFERENT; status=1; fi
    echo "$f $c: $n chunks, old $a, new $b: $verdict"
  done
done
exit $status
