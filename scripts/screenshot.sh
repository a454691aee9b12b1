#!/usr/bin/env bash
# Pictures of the status page for the README: runs the demo (scripts/demo.sh
# --keep: private PostgreSQL and MariaDB, a full extract and a delta of the
# sample shop), adds a few more deltas, serves the page (`ingest serve`) and
# takes headless Chromium screenshots of the dashboard, the tables and the
# reports into scripts/screenshots/. Installs Debian's chromium as root
# where missing. Stops the servers at the end.
#
#   scripts/screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/scripts/screenshots
mkdir -p "$out"

if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "chromium is missing: run as root (it installs Debian's chromium) or install it" >&2
    exit 2
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi

log=$(mktemp)
scripts/demo.sh --keep | tee "$log"
demo=$(sed -n 's/^kept: demo folder \([^;]*\);.*/\1/p' "$log")
testdir=$(dirname "$demo")
rm -f "$log"
[ -d "$demo" ] || { echo "the demo folder was not found" >&2; exit 1; }
ingest=$root/target/release/ingest
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '\n[web]\nbind = "127.0.0.1:%s"\n' "$port" >>"$demo/ingest.toml"

# A few more batches for the charts (the source's address from the demo's
# configuration: its [source] section comes first).
first() { sed -n "s/^$1 = \"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$demo/ingest.toml" | head -1; }
export PGPASSWORD=$(first password)
for i in 1 2 3; do
  psql -X -q -h "$(first host)" -p "$(first port)" -U "$(first user)" -d shop \
    -c "UPDATE orders SET note = 'batch $i' WHERE id % 7 = $i; DELETE FROM order_lines WHERE order_id % 97 = $i;"
  (cd "$demo" && "$ingest" -c ingest.toml delta >/dev/null)
done

(cd "$demo" && "$ingest" -c ingest.toml serve >/dev/null 2>&1) &
server=$!
stop() {
  kill "$server" 2>/dev/null || true
  "$root/scripts/test-env.sh" stop "$testdir"
}
trap stop EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

day=$(date -u +%F)
shot() {
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --no-first-run --hide-scrollbars \
    --window-size=1280,"$3" --screenshot="$out/$1.png" "http://127.0.0.1:$port$2" 2>/dev/null
  echo "wrote $out/$1.png"
}
shot dashboard / 1500
shot tables /tables 500
shot report-day "/reports?day=$day" 900
shot report-month "/reports?month=${day:0:7}" 900
