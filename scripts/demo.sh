#!/usr/bin/env bash
# make demo: a development MongoDB, synthetic tasks, one export of them.
set -euo pipefail
bin=$1 dir=$2 addr=$3 tasks=$4
uri="mongodb://$addr/"
mkdir -p "$dir"
rm -rf "$dir/db" "$dir/export"

"$bin/devmongo" serve --addr "$addr" --dir "$dir/db" 2>"$dir/devmongo.log" &
db=$!
trap 'kill $db 2>/dev/null; wait $db 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null && break
  sleep 0.1
done

echo "== seeding $tasks tasks into app.tasks at $uri"
"$bin/devmongo" seed -n "$tasks" --uri "$uri" --db app --collection tasks

echo "== exporting app.tasks (ndjson, zstd) into $dir/export"
"$bin/exportd" export --uri "$uri" --db app --collection tasks \
  --sort '{"createdAt": -1}' --chunk-records 20000 --out "$dir/export"

echo "== the chunks"
ls -l "$dir/export"
echo "== the first record"
zstd -dc "$dir/export/chunk-000000.ndjson.zst" 2>/dev/null | head -n 1 || true
echo "== the manifest: $dir/export/manifest.json"
