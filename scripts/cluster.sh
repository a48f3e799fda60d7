#!/usr/bin/env bash
# make cluster: three exportd nodes on one machine, as the README's
# "Running several nodes" describes them: three nats-servers clustered with
# JetStream, versitygw serving a directory as S3, a development MongoDB with
# tasks, and three `exportd serve --cluster`. It starts one export, prints
# how to watch and download it from any node, and keeps everything running
# until Ctrl-C (or, with CLUSTER_ONCE=1, waits for the export and stops).
#
#   scripts/cluster.sh BIN DIR TASKS
set -euo pipefail
bin=$1 dir=$2 tasks=$3
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rm -rf "${dir:?}"/{nats*,s3,node*,db,pids}
mkdir -p "$dir/s3/exports" # versitygw's buckets are the directory's subdirectories

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
waitport() { # host:port
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1; see the logs in $dir" >&2
  return 1
}

echo "== three NATS servers with JetStream, clustered (client ports 4301-4303)"
for i in 1 2 3; do
  routes=$(for j in 1 2 3; do [ "$j" = "$i" ] || printf 'nats://127.0.0.1:%d,' $((6300 + j)); done)
  "$bin/nats-server" -n "n$i" -a 127.0.0.1 -p $((4300 + i)) -js -sd "$dir/nats$i" \
    --cluster_name exportd --cluster "nats://127.0.0.1:$((6300 + i))" --routes "${routes%,}" \
    >"$dir/nats$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do waitport "127.0.0.1:$((4300 + i))"; done

echo "== versitygw: $dir/s3 as S3 on 127.0.0.1:7070, bucket exports"
export AWS_ACCESS_KEY_ID=exportd-demo AWS_SECRET_ACCESS_KEY=exportd-demo-secret
export AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:7070
"$bin/versitygw" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" \
  --port 127.0.0.1:7070 --region us-east-1 posix "$dir/s3" >"$dir/s3.log" 2>&1 &
pids+=($!)
waitport 127.0.0.1:7070

echo "== devmongo with $tasks tasks on 127.0.0.1:27218"
"$bin/devmongo" serve --addr 127.0.0.1:27218 --dir "$dir/db" 2>"$dir/devmongo.log" &
pids+=($!)
waitport 127.0.0.1:27218
"$bin/devmongo" seed -n "$tasks" --uri mongodb://127.0.0.1:27218/ --db app --collection tasks

echo "== three exportd nodes (HTTP 8181-8183), records in JetStream (R3), chunks in s3://exports/exports"
cat >"$dir/cluster.yaml" <<EOF
cluster:
  replicas: 3
  leaseTtl: 10s
EOF
export EXPORTD_API_TOKEN=exportd-demo-api-token
urls=nats://127.0.0.1:4301,nats://127.0.0.1:4302,nats://127.0.0.1:4303
for i in 1 2 3; do
  "$bin/exportd" serve --config "$dir/cluster.yaml" --cluster --node "node$i" \
    --storage s3://exports/exports --nats-url "$urls" --http-addr "127.0.0.1:$((8180 + i))" \
    --data "$dir/node$i" --mongo-uri mongodb://127.0.0.1:27218/ >"$dir/node$i.log" 2>&1 &
  pids+=($!)
  echo "node$i $!" >>"$dir/node-pids"
done
for i in 1 2 3; do waitport "127.0.0.1:$((8180 + i))"; done

echo "== one export, started through node1's HTTP API"
reply=$(curl -sS -X POST -H "Authorization: Bearer $EXPORTD_API_TOKEN" -H 'Content-Type: application/json' \
  --data '{"database": "app", "collection": "tasks", "format": "csv", "compression": "zstd", "chunkRecords": 5000, "fields": ["_id", "title", "status", "priority", "createdAt"]}' \
  http://127.0.0.1:8181/exports)
echo "$reply"
id=$(sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' <<<"$reply" | head -n 1)

cat <<EOF

The export $id runs on one of the nodes; every node answers for it:
  curl -s http://127.0.0.1:8182/exports/$id
  curl -s http://127.0.0.1:8183/metrics | grep exportd_export_running
  $bin/exportctl --nats-url $urls watch $id
  $bin/exportctl --nats-url $urls --http-url http://127.0.0.1:8182 get --out ./tasks-export $id
  curl -s -o tasks.csv.zst http://127.0.0.1:8183/exports/$id/data
Kill the node that runs it (kill -9 <pid>; $dir/node-pids has them): another
resumes it within the lease (10s), with the same bytes. Logs: $dir/*.log.
Stop everything: Ctrl-C.
EOF

if [ "${CLUSTER_ONCE:-}" = 1 ]; then
  for _ in $(seq 600); do
    state=$(curl -s "http://127.0.0.1:8182/exports/$id" | sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p' | head -n 1)
    [ "$state" = completed ] && break
    [ "$state" = failed ] && { echo "export failed" >&2; exit 1; }
    sleep 0.5
  done
  curl -sS -o "$dir/tasks.csv.zst" "http://127.0.0.1:8183/exports/$id/data"
  echo "== completed; node3 served $(zstd -dc "$dir/tasks.csv.zst" | wc -l) lines of csv (a header and $tasks tasks)"
  exit 0
fi
wait
