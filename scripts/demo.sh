#!/usr/bin/env bash
# make demo: a development MongoDB (devmongo) with synthetic tasks, one
# export of them in the foreground (exportd export), then the daemon
# (exportd serve: HTTP, the web console and an embedded NATS server) with
# one export started through it. It prints the commands to try next and
# keeps devmongo and exportd running until Ctrl-C, which stops both
# cleanly. DEMO_ONCE=1 runs it without a terminal: it waits for the
# daemon's export, downloads it, stops everything and exits 0 (tests, CI).
#
#   scripts/demo.sh BIN DIR MONGO_ADDR TASKS [HTTP_ADDR [NATS_ADDR]]
#
# It needs only what make builds into BIN; zstd, curl and the nats CLI are
# used or suggested when they are installed.
set -euo pipefail
bin=$1 dir=$2 addr=$3 tasks=$4 http=${5:-127.0.0.1:8080} natsaddr=${6:-127.0.0.1:4222}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
uri="mongodb://$addr/"
token=exportd-demo-api-token # the console asks for it; 16 bytes at least
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rm -rf "${dir:?}"/{db,export,serve,download,exportd.yaml,*.log}

listening() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
for a in "$addr:DEMO_ADDR" "$http:DEMO_HTTP" "$natsaddr:DEMO_NATS"; do
  if listening "${a%:*}"; then
    echo "demo: something already listens on ${a%:*}; choose another address: make demo ${a##*:}=127.0.0.1:PORT" >&2
    exit 1
  fi
done

# The servers run in sessions of their own, so that Ctrl-C reaches only
# this script, which stops exportd first and devmongo after it; and they
# get SIGKILL if this script is killed without running its trap.
detach=()
command -v setsid >/dev/null && detach+=(setsid)
command -v setpriv >/dev/null && detach+=(setpriv --pdeathsig KILL)
db="" daemon=""
stop() { # pid name: SIGTERM, then wait for it to exit
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  echo "== $2 stopped"
}
cleanup() {
  trap - EXIT INT TERM
  stop "$daemon" "exportd serve"
  stop "$db" devmongo
}
trap cleanup EXIT
trap 'exit 130' INT TERM
waitport() { # addr pid log
  for _ in $(seq 300); do
    listening "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "demo: the server for $1 exited; its log, $3:" >&2; tail -n 20 "$3" >&2; exit 1; }
    sleep 0.1
  done
  echo "demo: nothing listens on $1 after 30s; see $3" >&2
  exit 1
}

echo "== devmongo (FerretDB with SQLite, embedded) on $addr, data in $dir/db"
"${detach[@]}" "$bin/devmongo" serve --addr "$addr" --dir "$dir/db" 2>"$dir/devmongo.log" &
db=$!
waitport "$addr" "$db" "$dir/devmongo.log"

echo "== seeding $tasks tasks into app.tasks (devmongo inserts about 10,000 a second)"
"$bin/devmongo" seed -n "$tasks" --uri "$uri" --db app --collection tasks

echo "== exporting app.tasks, newest first (ndjson, zstd) into $dir/export"
echo "   devmongo sorts the whole collection in memory before it sends the first record,"
echo "   so the progress line shows 0 records for a few seconds; MongoDB would walk an index."
"$bin/exportd" export --uri "$uri" --db app --collection tasks \
  --sort '{"createdAt": -1}' --chunk-records 20000 --out "$dir/export"
echo "== the chunks"
ls -l "$dir/export"
if command -v zstd >/dev/null; then
  echo "== the first record"
  { zstd -dc "$dir/export/chunk-000000.ndjson.zst" || true; } | head -n 1 # zstd stops on SIGPIPE
else
  echo "== (zstd is not installed: exportctl get --decompress below reads the chunks instead)"
fi
echo "== the manifest: $dir/export/manifest.json"

echo "== exportd serve: HTTP and the web console on $http, embedded NATS on $natsaddr"
cat >"$dir/exportd.yaml" <<EOF
# make demo's daemon. Relative paths are relative to this file's directory.
dataDir: serve
profilesDir: $root/configs/profiles
mongoUri: $uri
httpAddr: $http
nats:
  listen: $natsaddr
EOF
EXPORTD_API_TOKEN=$token "${detach[@]}" "$bin/exportd" serve --config "$dir/exportd.yaml" 2>"$dir/exportd.log" &
daemon=$!
waitport "$http" "$daemon" "$dir/exportd.log"
waitport "$natsaddr" "$daemon" "$dir/exportd.log"
sed -n 's/^.*msg="\(request profiles loaded\)" /   \1: /p' "$dir/exportd.log"

ctl=("$bin/exportctl")
[ "$natsaddr" = 127.0.0.1:4222 ] || ctl+=(--nats-url "nats://$natsaddr")
[ "$http" = 127.0.0.1:8080 ] || ctl+=(--http-url "http://$http")
echo "== one export through the daemon: the tasks profile, csv, 10,000 records a chunk"
id=$("${ctl[@]}" start --profile tasks --format csv --chunk-records 10000)
echo "   export $id (devmongo sorts again before its first record)"

natsflag=""
[ "$natsaddr" = 127.0.0.1:4222 ] || natsflag=" --server nats://$natsaddr"
cat <<EOF

Next, in another terminal (from $PWD):
  ${ctl[*]} watch $id
  ${ctl[*]} get --out ./tasks-export $id        # --decompress also writes the csv
  curl -s http://$http/exports/$id                          # the manifest
  curl -s -r 0-99 -o /dev/null -w '%{http_code} %{size_download} bytes\n' http://$http/exports/$id/chunks/0
  curl -s http://$http/exports/$id/data | zstd -dc | head -n 3   # every chunk, one stream
  nats$natsflag req exports.list '{}'       # the nats CLI: github.com/nats-io/natscli
  nats$natsflag sub 'exports.progress.>'
The web console: http://$http/ (API token: $token)
Logs: $dir/exportd.log, $dir/devmongo.log; the daemon's config: $dir/exportd.yaml
EOF

if [ "${DEMO_ONCE:-}" = 1 ]; then
  "${ctl[@]}" watch "$id"
  "${ctl[@]}" get --decompress --out "$dir/download" "$id"
  manifest=$("${ctl[@]}" status "$id" | tr -d ' \n')
  records=$(grep -o '"records":[0-9]*' <<<"$manifest" | head -n 1 | cut -d: -f2) # the export's; the chunks' come after
  grep -q '"state":"completed"' <<<"$manifest" || records=""
  [ "$records" = "$tasks" ] || { echo "demo: the export has ${records:-no} records, want $tasks" >&2; exit 1; }
  echo "== $dir/download/$id.csv: the profile's header and $tasks tasks, decompressed and checked against the manifest's SHA-256"
  head -c 300 "$dir/download/$id.csv"
  echo " …"
  exit 0
fi
echo "Running until Ctrl-C."
set +e
wait -n "$db" "$daemon"
echo "demo: a server exited; see $dir/exportd.log and $dir/devmongo.log" >&2
exit 1
