#!/usr/bin/env bash
# Speed and memory of `ingest` against the databases' own bulk tools, on the
# same machine, in the same run (compare ratios, not absolute numbers: these
# machines are small and noisy).
#
#   scripts/bench.sh [rows] [case...]   # default 1000000 rows, every case
#   scripts/bench.sh 5000000 pg-initial my-initial   # the memory run
#
# Cases (each prints rows/s, MB/s of source data, ingest's peak RSS and the
# ratio ingest/native where a native reference exists). BENCH_SPOOL=none|gzip
# sets spool_compression (default: ingest's own). BENCH_REPEAT=n also updates
# the first n rows of each delta table a second time (keys that repeat
# within the batch).
#
#   pg-initial      PostgreSQL -> destination, one table, extract_threads = 1
#                   and 2 (parallel block ranges). Native reference:
#                   psql "\copy (...) to stdout (format csv)" | mariadb LOAD DATA LOCAL INFILE '/dev/stdin'
#   my-initial      MariaDB -> destination, one table, extract_threads = 1 and
#                   2 (integer key ranges). Native reference:
#                   mariadb --quick --batch -e "SELECT ..." | mariadb LOAD DATA LOCAL INFILE '/dev/stdin'
#   pg-4tables      four tables of rows/4 each, load_threads = 1, 2, 4. Native
#                   reference: the pg-initial pipeline run for each table in turn.
#   pg-200cols      a 200-column table of rows/10 rows (speed only).
#   pg-delta        rows changes (70% updates, 20% inserts, 10% deletes) over 4
#   my-delta        tables, extract + load + merge. Reference: the same changes as
#                   single-row statements through one connection (mariadb < file),
#                   the way a JDBC sink applies them.
#   history         rows changes (the pg-delta mix) to one table of rows rows,
#                   merged by a delta into a mirror table and, by a second
#                   instance (its own slot), into a history table
#                   (`history = true`): the ratio history / mirror. The
#                   history table's open versions are checked against the
#                   source (count and sum). BENCH_REPEAT=n updates the first n
#                   rows again in the same transaction: keys repeat, and the
#                   merge takes its general (window-function) form.
#   pg-backlog      not run by default: 10 x rows changes (ten UPDATEs of a
#                   rows-row table) waiting in the slot, read by one delta in
#                   batches of max_batch_changes (default 1,000,000): the
#                   delta's time and peak RSS, and both sides' row count and
#                   sum compared. `scripts/bench.sh 1000000 pg-backlog` is the
#                   10M-change memory run.
#   verify          not run by default: `ingest verify` of a rows-row table
#                   (the mixed one) against `SELECT count(*)` on both sides
#                   and against the servers' own checksums (PostgreSQL
#                   sum(hashtext(row::text)), MariaDB CHECKSUM TABLE), and
#                   `verify --rows` finding one changed value.
#                   `scripts/bench.sh 5000000 verify` is the issue's 5M run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rows=${1:-1000000}
shift || true
cases=" ${*:-pg-initial my-initial pg-4tables pg-200cols pg-delta my-delta history} "
want() { [[ $cases == *" $1 "* ]]; }
command -v /usr/bin/time >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq time >/dev/null; }

cargo build --release --quiet
ingest=$root/target/release/ingest
eval "$(INGEST_PG18=0 scripts/test-env.sh start)"
trap '"$root/scripts/test-env.sh" stop "$INGEST_TEST_DIR"' EXIT
work=$INGEST_TEST_DIR/bench
mkdir -p "$work"
export PGPASSWORD=$INGEST_PG_PASSWORD
pg() { psql -X -q -v ON_ERROR_STOP=1 -h "$INGEST_PG_HOST" -p "$INGEST_PG_PORT" -U "$INGEST_PG_USER" "$@"; }
my() { mariadb --default-character-set=utf8mb4 -h "$INGEST_MY_HOST" -P "$INGEST_MY_PORT" -u "$INGEST_MY_USER" -p"$INGEST_MY_PASSWORD" "$@"; }
now() { date +%s.%N; }
results=()
report() { results+=("$(printf '%-18s %10s rows %8.2f s %10.0f rows/s %7.1f MB/s %8s MB RSS %s' "$@")"); }

say() { printf '\n== %s\n' "$*" >&2; }

# A mixed-type table: integers, numeric, double, text of varied length with
# commas, quotes and newlines, varchar, boolean, date, timestamp,
# timestamptz, small bytea, ~10% NULLs.
pg_table() { # name rows first_id
  pg -d bench -c "CREATE TABLE $1 (id bigint PRIMARY KEY, i int, n numeric(12,2), d double precision,
      t text, v varchar(64), b boolean, dt date, ts timestamp, tz timestamptz, by bytea, s smallint);
    INSERT INTO $1 SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE g % 100000 END, (g % 1000000) / 100.0, g * 1.5,
      CASE WHEN g % 10 = 1 THEN NULL ELSE repeat('x', (g % 50)::int) || ', \"q\"' || CASE WHEN g % 7 = 0 THEN E'\\n' ELSE '' END END,
      'v' || g, g % 2 = 0, date '2020-01-01' + (g % 1000)::int, timestamp '2020-01-01' + g * interval '1 second',
      timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second', decode(md5(g::text), 'hex'), (g % 32000)::smallint
    FROM generate_series($3, $3 + $2 - 1) g;"
}

say "creating $rows rows in PostgreSQL and MariaDB"
pg -d postgres -c "CREATE DATABASE bench"
my -e "CREATE DATABASE mysrc"
if want pg-initial || want my-initial; then
  pg_table bench_t "$rows" 1
  src_mb=$(pg -d bench -At -c "SELECT round(pg_total_relation_size('bench_t') / 1048576.0, 1)")
fi
if want my-initial; then
  my -e "CREATE TABLE mysrc.bench_t (id BIGINT PRIMARY KEY, i INT, n DECIMAL(12,2), d DOUBLE,
    t LONGTEXT, v VARCHAR(64), b BOOLEAN, dt DATE, ts DATETIME(6), tz DATETIME(6), bi VARBINARY(16), s SMALLINT)"
  pg -d bench -c "\\copy (SELECT id, i, n, d, t, v, b::int, dt, ts, tz AT TIME ZONE 'UTC', encode(by, 'hex'), s FROM bench_t) to '$work/seed.csv' (format csv, null 'NULL')"
  my --local-infile=1 -e "LOAD DATA LOCAL INFILE '$work/seed.csv' INTO TABLE mysrc.bench_t FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''
    (id, i, n, d, t, v, b, dt, ts, tz, @bi, s) SET bi = UNHEX(@bi)"
  rm -f "$work/seed.csv"
fi

config() { # file source-block tables threads dest-db
  cat >"$1" <<TOML
[instance]
name = "bench"
${BENCH_SPOOL:+spool_compression = \"$BENCH_SPOOL\"}
[source]
$2
[destination]
dialect = "mysql"
host = "$INGEST_MY_HOST"
port = $INGEST_MY_PORT
database = "mysql"
user = "$INGEST_MY_USER"
password = "$INGEST_MY_PASSWORD"
schema_for_all_tables = "$5"
load_threads = $4
$3
TOML
}
pg_source="type = \"postgres\"
host = \"$INGEST_PG_HOST\"
port = $INGEST_PG_PORT
database = \"bench\"
user = \"$INGEST_PG_USER\"
password = \"$INGEST_PG_PASSWORD\"
slot = \"bench\"
publication = \"bench\""
my_source="type = \"mysql\"
host = \"$INGEST_MY_HOST\"
port = $INGEST_MY_PORT
user = \"$INGEST_MY_USER\"
password = \"$INGEST_MY_PASSWORD\""

# Lets MariaDB write out dirty pages and purge old row versions left by the
# cases before, so that a timing does not pay for them (up to 60 s).
settle() {
  local i dirty hist
  my -e "SET GLOBAL innodb_max_dirty_pages_pct = 0" 2>/dev/null || return 0
  for i in $(seq 1 60); do
    dirty=$(my -N -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" | awk '{print $2}')
    hist=$(my -N -e "SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'" | awk '{print $2}')
    [ "${dirty:-0}" -lt 100 ] && [ "${hist:-0}" -lt 1000 ] && break
    sleep 1
  done
  my -e "SET GLOBAL innodb_max_dirty_pages_pct = 90"
}

run_ingest() { # dir -> prints "seconds rss_mb"
  local out
  settle >&2
  out=$( { /usr/bin/time -f '%e %M' "$ingest" --config "$1/ingest.toml" full-extract >/dev/null; } 2>&1 | tail -1)
  echo "$out" | awk '{printf "%s %.0f\n", $1, $2 / 1024}'
}

# The native pipeline for one PostgreSQL table into dst_native.
pg_native() { # table
  pg -d bench -c "\\copy (SELECT id, i, n, d, t, v, b::int, dt, ts, tz AT TIME ZONE 'UTC', encode(by, 'hex'), s FROM $1) to stdout (format csv, null 'NULL')" |
    my --local-infile=1 -e "LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE dst_native.$1 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''
      (id, i, n, d, t, v, b, dt, ts, tz, @by, s) SET \`by\` = UNHEX(@by)"
}

# One table with extract_threads = 1 and 2, then the native pipeline; the
# ingest lines get the ratio.
initial_case() { # name source-block table dest-prefix native-command
  local x secs rss native t0 t1 first=${#results[@]}
  declare -A took
  for x in 1 2; do
    say "$1: ingest, extract_threads = $x"
    mkdir -p "$work/$1-x$x"
    config "$work/$1-x$x/ingest.toml" "$2
extract_threads = $x" "[[table]]
name = \"$3\"" 4 "$4_x$x"
    read -r secs rss < <(run_ingest "$work/$1-x$x")
    report "$1-x$x" "$rows" "$secs" "$(echo "$rows / $secs" | bc -l)" "$(echo "$src_mb / $secs" | bc -l)" "$rss" ""
    took[$x]=$secs
    pg -d bench -c "SELECT pg_drop_replication_slot('bench')" >/dev/null 2>&1 || true
  done
  say "$1: native pipeline"
  my -e "DROP DATABASE IF EXISTS dst_native; CREATE DATABASE dst_native; CREATE TABLE dst_native.bench_t LIKE $4_x1.bench_t"
  settle
  t0=$(now)
  $5
  t1=$(now)
  native=$(echo "$t1 - $t0" | bc -l)
  report "$1-native" "$rows" "$native" "$(echo "$rows / $native" | bc -l)" "$(echo "$src_mb / $native" | bc -l)" "-" ""
  for x in 1 2; do
    results[first + x - 1]="${results[first + x - 1]}  ratio $(printf '%.2f' "$(echo "$native / ${took[$x]}" | bc -l)")x native"
  done
}
my_native() {
  my --quick --batch --skip-column-names -e "SELECT id, i, n, d, t, v, b, dt, ts, tz, HEX(bi), s FROM mysrc.bench_t" |
    my --local-infile=1 -e "LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE dst_native.bench_t (id, i, n, d, t, v, b, dt, ts, tz, @bi, s) SET bi = UNHEX(@bi)"
}

want pg-initial && initial_case pg-initial "$pg_source" public.bench_t dst_pg "pg_native bench_t"
want my-initial && initial_case my-initial "$my_source" mysrc.bench_t dst_my my_native

# --- four tables, load_threads 1, 2, 4, against the native pipeline run
# table after table
if want pg-4tables; then
  quarter=$((rows / 4))
  for k in 1 2 3 4; do pg_table "quad_$k" "$quarter" $(( (k - 1) * quarter + 1 )); done
  quad_mb=$(pg -d bench -At -c "SELECT round(sum(pg_total_relation_size(c.oid)) / 1048576.0, 1) FROM pg_class c WHERE relname LIKE 'quad\\__' AND relkind = 'r'")
  best=
  for threads in 1 2 4; do
    say "pg-4tables: load_threads = $threads"
    mkdir -p "$work/quad$threads"
    pg -d bench -c "SELECT pg_drop_replication_slot('bench')" >/dev/null 2>&1 || true
    config "$work/quad$threads/ingest.toml" "$pg_source" '[[table]]
name = "public.quad_*"' "$threads" "dst_quad$threads"
    read -r secs rss < <(run_ingest "$work/quad$threads")
    report "pg-4tables-t$threads" "$((quarter * 4))" "$secs" "$(echo "$quarter * 4 / $secs" | bc -l)" "$(echo "$quad_mb / $secs" | bc -l)" "$rss" ""
    quad_secs[$threads]=$secs
  done
  say "pg-4tables: native, one table after the other"
  my -e "DROP DATABASE IF EXISTS dst_native; CREATE DATABASE dst_native"
  settle
  t0=$(now)
  for k in 1 2 3 4; do
    my -e "CREATE TABLE dst_native.quad_$k LIKE dst_quad1.quad_$k"
    pg_native "quad_$k"
  done
  t1=$(now)
  native=$(echo "$t1 - $t0" | bc -l)
  report pg-4tables-native "$((quarter * 4))" "$native" "$(echo "$quarter * 4 / $native" | bc -l)" "$(echo "$quad_mb / $native" | bc -l)" "-" ""
  for threads in 1 2 4; do
    i=$(( ${#results[@]} - 4 + (threads == 1 ? 0 : threads == 2 ? 1 : 2) ))
    results[i]="${results[i]}  ratio $(printf '%.2f' "$(echo "$native / ${quad_secs[$threads]}" | bc -l)")x native"
  done
fi

# --- a 200-column table
if want pg-200cols; then
  wide_rows=$((rows / 10))
  cols=$(for c in $(seq 1 199); do case $((c % 4)) in
    0) printf ', c%d int' "$c";; 1) printf ', c%d text' "$c";; 2) printf ', c%d numeric(12,2)' "$c";; 3) printf ', c%d timestamptz' "$c";; esac; done)
  vals=$(for c in $(seq 1 199); do case $((c % 4)) in
    0) printf ', g + %d' "$c";; 1) printf ", 'v' || g || '-%d'" "$c";; 2) printf ', g / 100.0 + %d' "$c";; 3) printf ", now() - g * interval '1 second'";; esac; done)
  pg -d bench -c "CREATE TABLE wide200 (id bigint PRIMARY KEY$cols); INSERT INTO wide200 SELECT g$vals FROM generate_series(1, $wide_rows) g;"
  wide_mb=$(pg -d bench -At -c "SELECT round(pg_total_relation_size('wide200') / 1048576.0, 1)")
  say "pg-200cols: ingest ($wide_rows rows)"
  mkdir -p "$work/wide"
  pg -d bench -c "SELECT pg_drop_replication_slot('bench')" >/dev/null 2>&1 || true
  config "$work/wide/ingest.toml" "$pg_source" '[[table]]
name = "public.wide200"' 4 dst_wide
  read -r secs rss < <(run_ingest "$work/wide")
  report pg-200cols "$wide_rows" "$secs" "$(echo "$wide_rows / $secs" | bc -l)" "$(echo "$wide_mb / $secs" | bc -l)" "$rss" ""
fi

# --- deltas: rows changes over 4 tables (70% updates, 20% inserts, 10%
# deletes), against the same changes as single-row statements
base=$((rows / 4))
upd=$((base * 7 / 10)); del_hi=$((base * 8 / 10))
delta_case() { # name config-dir statements-file
  local out secs rss changes delta_mb t0 t1 rbr a b read_ms
  changes=$(wc -l <"$3")
  settle
  say "$1: ingest delta"
  /usr/bin/time -o "$work/$1.time" -f '%e %M' "$ingest" --verbose --config "$2/ingest.toml" delta >/dev/null 2>"$work/$1.log"
  out=$(tail -1 "$work/$1.time")
  # How long reading the changes took, all batches (the rest is load and merge).
  cp "$work/$1.log" "${TMPDIR:-/tmp}/ingest-bench-$1.log"
  read_ms=$(sed -n 's/.*transaction(s) from .* in \([0-9]*\) ms.*/\1/p' "$work/$1.log" | awk '{s += $1} END {print s}')
  secs=$(echo "$out" | awk '{print $1}'); rss=$(echo "$out" | awk '{printf "%.0f", $2 / 1024}')
  delta_mb=$(echo "$(stat -c %s "$3") / 1048576" | bc -l)
  report "$1" "$changes" "$secs" "$(echo "$changes / $secs" | bc -l)" "$(echo "$delta_mb / $secs" | bc -l)" "$rss" ""
  settle
  say "$1: row-by-row reference ($changes statements, one connection)"
  t0=$(now)
  my "$4_ref" <"$3"
  t1=$(now)
  rbr=$(echo "$t1 - $t0" | bc -l)
  report "$1-rowbyrow" "$changes" "$rbr" "$(echo "$changes / $rbr" | bc -l)" "$(echo "$delta_mb / $rbr" | bc -l)" "-" ""
  results[-2]="${results[-2]}  ratio $(printf '%.1f' "$(echo "$rbr / $secs" | bc -l)")x row-by-row (reading changes ${read_ms:-?} ms)"
  for k in 1 2 3 4; do
    a=$(my -N -e "CHECKSUM TABLE $4.dt_$k" | awk '{print $2}'); b=$(my -N -e "CHECKSUM TABLE $4_ref.dt_$k" | awk '{print $2}')
    [ "$a" = "$b" ] || echo "bench: $1 dt_$k differs between ingest and the reference ($a vs $b)" >&2
  done
}
copy_ref() { # dest-db: the reference starts from what the full extract loaded
  my -e "CREATE DATABASE $1_ref"
  for k in 1 2 3 4; do my -e "CREATE TABLE $1_ref.dt_$k LIKE $1.dt_$k; INSERT INTO $1_ref.dt_$k SELECT * FROM $1.dt_$k"; done
}

if want pg-delta; then
  for k in 1 2 3 4; do
    pg -d bench -c "CREATE TABLE dt_$k (id bigint PRIMARY KEY, i int, n numeric(12,2), t text, ts timestamptz);
      INSERT INTO dt_$k SELECT g, g % 1000, g / 100.0, 'row ' || g, timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second'
      FROM generate_series(1, $base) g;"
  done
  say "pg-delta: full extract of the 4 base tables"
  mkdir -p "$work/delta"
  pg -d bench -c "SELECT pg_drop_replication_slot('bench')" >/dev/null 2>&1 || true
  config "$work/delta/ingest.toml" "$pg_source" '[[table]]
name = "public.dt_*"' 4 dst_delta
  "$ingest" --config "$work/delta/ingest.toml" full-extract >/dev/null
  copy_ref dst_delta
  say "pg-delta: $((base * 4)) changes at the source"
  for k in 1 2 3 4; do
    pg -d bench -c "UPDATE dt_$k SET i = i + 1, t = t || ' changed' WHERE id <= $upd;
      DELETE FROM dt_$k WHERE id > $upd AND id <= $del_hi;
      INSERT INTO dt_$k SELECT g, g % 1000, g / 100.0, 'new ' || g, now() FROM generate_series($base + 1, $base + $base * 2 / 10) g;"
    [ -z "${BENCH_REPEAT:-}" ] || pg -d bench -c "UPDATE dt_$k SET i = i + 1 WHERE id <= $BENCH_REPEAT"
  done
  for k in 1 2 3 4; do
    pg -d bench -At -c "SELECT format('UPDATE dt_$k SET i = %s, t = %L WHERE id = %s;', i, t, id) FROM dt_$k WHERE id <= $upd
      UNION ALL SELECT format('DELETE FROM dt_$k WHERE id = %s;', g) FROM generate_series($upd + 1, $del_hi) g
      UNION ALL SELECT format('INSERT INTO dt_$k VALUES (%s, %s, %s, %L, %L);', id, i, n, t, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'))
        FROM dt_$k WHERE id > $base"
  done >"$work/pg-rowbyrow.sql"
  delta_case pg-delta "$work/delta" "$work/pg-rowbyrow.sql" dst_delta
fi

if want my-delta; then
  for k in 1 2 3 4; do
    my mysrc -e "CREATE TABLE dt_$k (id BIGINT PRIMARY KEY, i INT, n DECIMAL(12,2), t TEXT, ts DATETIME(6));
      INSERT INTO dt_$k SELECT seq, seq % 1000, seq / 100.0, CONCAT('row ', seq), TIMESTAMP '2020-01-01 00:00:00' + INTERVAL seq SECOND
      FROM seq_1_to_$base;"
  done
  say "my-delta: full extract of the 4 base tables"
  mkdir -p "$work/mydelta"
  config "$work/mydelta/ingest.toml" "$my_source" '[[table]]
name = "mysrc.dt_*"' 4 dst_mydelta
  "$ingest" --config "$work/mydelta/ingest.toml" full-extract >/dev/null
  copy_ref dst_mydelta
  say "my-delta: $((base * 4)) changes at the source"
  for k in 1 2 3 4; do
    my mysrc -e "UPDATE dt_$k SET i = i + 1, t = CONCAT(t, ' changed') WHERE id <= $upd;
      DELETE FROM dt_$k WHERE id > $upd AND id <= $del_hi;
      INSERT INTO dt_$k SELECT seq, seq % 1000, seq / 100.0, CONCAT('new ', seq), NOW(6) FROM seq_$((base + 1))_to_$((base + base * 2 / 10));"
    [ -z "${BENCH_REPEAT:-}" ] || my mysrc -e "UPDATE dt_$k SET i = i + 1 WHERE id <= $BENCH_REPEAT"
  done
  for k in 1 2 3 4; do
    my -N --batch --raw mysrc -e "SELECT CONCAT('UPDATE dt_$k SET i = ', i, ', t = ', QUOTE(t), ' WHERE id = ', id, ';') FROM dt_$k WHERE id <= $upd
      UNION ALL SELECT CONCAT('DELETE FROM dt_$k WHERE id = ', seq, ';') FROM seq_$((upd + 1))_to_$del_hi
      UNION ALL SELECT CONCAT('INSERT INTO dt_$k VALUES (', id, ', ', i, ', ', n, ', ', QUOTE(t), ', ', QUOTE(ts), ');') FROM dt_$k WHERE id > $base"
  done >"$work/my-rowbyrow.sql"
  delta_case my-delta "$work/mydelta" "$work/my-rowbyrow.sql" dst_mydelta
fi

if want history; then
  hupd=$((rows * 7 / 10)); hdel=$((rows * 8 / 10))
  pg -d bench -c "CREATE TABLE hist (id bigint PRIMARY KEY, i int, n numeric(12,2), t text, ts timestamptz);
    INSERT INTO hist SELECT g, g % 1000, g / 100.0, 'row ' || g, timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second'
    FROM generate_series(1, $rows) g;"
  mkdir -p "$work/hmirror" "$work/hhist"
  for s in bench bench_h; do pg -d bench -c "SELECT pg_drop_replication_slot('$s')" >/dev/null 2>&1 || true; done
  config "$work/hmirror/ingest.toml" "$pg_source" '[[table]]
name = "public.hist"' 4 dst_hmirror
  hsource=$(printf '%s\n' "$pg_source" | sed 's/^slot = "bench"$/slot = "bench_h"/; s/^publication = "bench"$/publication = "bench_h"/')
  config "$work/hhist/ingest.toml" "$hsource" '[history]
default = true
[[table]]
name = "public.hist"' 4 dst_hhist
  say "history: full extract into a mirror and a history table"
  "$ingest" --config "$work/hmirror/ingest.toml" full-extract >/dev/null
  "$ingest" --config "$work/hhist/ingest.toml" full-extract >/dev/null
  say "history: $rows changes at the source"
  pg -d bench -c "UPDATE hist SET i = i + 1, t = t || ' changed' WHERE id <= $hupd;
    DELETE FROM hist WHERE id > $hupd AND id <= $hdel;
    INSERT INTO hist SELECT g, g % 1000, g / 100.0, 'new ' || g, now() FROM generate_series($rows + 1, $rows + $rows * 2 / 10) g;
    ${BENCH_REPEAT:+UPDATE hist SET i = i + 1 WHERE id <= $BENCH_REPEAT;}"
  for w in hmirror hhist; do
    settle
    say "history: delta into $w"
    /usr/bin/time -o "$work/$w.time" -f '%e %M' "$ingest" --verbose --config "$work/$w/ingest.toml" delta >/dev/null 2>"$work/$w.log"
    cp "$work/$w.log" "${TMPDIR:-/tmp}/ingest-bench-$w.log"
  done
  m=$(tail -1 "$work/hmirror.time"); h=$(tail -1 "$work/hhist.time")
  msecs=$(echo "$m" | awk '{print $1}'); hsecs=$(echo "$h" | awk '{print $1}')
  src_sum=$(pg -d bench -At -c "SELECT count(*) || ' ' || sum(i) FROM hist")
  dst_sum=$(my -N -e "SELECT CONCAT(COUNT(*), ' ', SUM(i)) FROM dst_hhist.hist WHERE ingest_end = '9999-12-31' AND ingest_op <> 'D'")
  versions=$(my -N -e "SELECT COUNT(*) FROM dst_hhist.hist")
  [ "$src_sum" = "$dst_sum" ] || echo "bench: history differs: source $src_sum, open versions $dst_sum" >&2
  report history-mirror "$rows" "$msecs" "$(echo "$rows / $msecs" | bc -l)" 0 "$(echo "$m" | awk '{printf "%.0f", $2 / 1024}')" ""
  report history "$rows" "$hsecs" "$(echo "$rows / $hsecs" | bc -l)" 0 "$(echo "$h" | awk '{printf "%.0f", $2 / 1024}')" \
    "  ratio $(printf '%.2f' "$(echo "$hsecs / $msecs" | bc -l)")x the mirror delta; $versions versions; open versions = source: $dst_sum"
fi

if want pg-backlog; then
  pg -d bench -c "CREATE TABLE backlog (id bigint PRIMARY KEY, i int, t text);
    INSERT INTO backlog SELECT g, 0, 'row ' || g FROM generate_series(1, $rows) g;"
  say "pg-backlog: full extract of $rows rows"
  mkdir -p "$work/backlog"
  pg -d bench -c "SELECT pg_drop_replication_slot('bench')" >/dev/null 2>&1 || true
  config "$work/backlog/ingest.toml" "$pg_source" '[[table]]
name = "public.backlog"' 4 dst_backlog
  "$ingest" --config "$work/backlog/ingest.toml" full-extract >/dev/null
  say "pg-backlog: $((rows * 10)) changes at the source (ten UPDATEs of every row)"
  for r in $(seq 1 10); do pg -d bench -c "UPDATE backlog SET i = i + 1"; done
  settle
  say "pg-backlog: one delta"
  /usr/bin/time -o "$work/backlog.time" -f '%e %M' "$ingest" --verbose --config "$work/backlog/ingest.toml" delta >/dev/null 2>"$work/backlog.log"
  out=$(tail -1 "$work/backlog.time")
  secs=$(echo "$out" | awk '{print $1}'); rss=$(echo "$out" | awk '{printf "%.0f", $2 / 1024}')
  batches=$(grep -c "merged .* change(s)" "$work/backlog.log" || true)
  src_sum=$(pg -d bench -At -c "SELECT count(*) || ' ' || sum(i) FROM backlog")
  dst_sum=$(my -N -e "SELECT CONCAT(COUNT(*), ' ', SUM(i)) FROM dst_backlog.backlog")
  [ "$src_sum" = "$dst_sum" ] || echo "bench: pg-backlog differs: source $src_sum, destination $dst_sum" >&2
  report pg-backlog "$((rows * 10))" "$secs" "$(echo "$rows * 10 / $secs" | bc -l)" 0 "$rss" "  $batches batches; source and destination count/sum: $src_sum / $dst_sum"
fi

if want verify; then
  pg_table verify_t "$rows" 1
  mkdir -p "$work/verify"
  pg -d bench -c "SELECT pg_drop_replication_slot('bench')" >/dev/null 2>&1 || true
  config "$work/verify/ingest.toml" "$pg_source" '[[table]]
name = "public.verify_t"' 4 dst_verify
  say "verify: full extract of $rows rows"
  "$ingest" --config "$work/verify/ingest.toml" full-extract >/dev/null
  settle
  say "verify: SELECT count(*) on both sides, then ingest verify"
  t0=$(now)
  c1=$(pg -d bench -At -c "SELECT count(*) FROM verify_t")
  c2=$(my -N -e "SELECT count(*) FROM dst_verify.verify_t")
  t1=$(now)
  count_secs=$(echo "$t1 - $t0" | bc -l)
  # The servers' own whole-table checksums, both at once as verify runs
  # its two sides (they hash each row's stored or text form, no canonical
  # values: they cannot compare across servers).
  t0=$(now)
  pg -d bench -At -c "SELECT sum(hashtext(verify_t::text)) FROM verify_t" >/dev/null &
  my -N -e "CHECKSUM TABLE dst_verify.verify_t" >/dev/null
  wait
  t1=$(now)
  own_secs=$(echo "$t1 - $t0" | bc -l)
  /usr/bin/time -o "$work/verify.time" -f '%e %M' "$ingest" --config "$work/verify/ingest.toml" verify >"$work/verify.out"
  cat "$work/verify.out" >&2
  out=$(tail -1 "$work/verify.time"); secs=$(echo "$out" | awk '{print $1}')
  say "verify: one value changed at the destination, ingest verify --rows"
  my -e "UPDATE dst_verify.verify_t SET i = -1 WHERE id = $((rows / 2))"
  /usr/bin/time -o "$work/verify-rows.time" -f '%e %M' "$ingest" --config "$work/verify/ingest.toml" verify --rows >"$work/verify-rows.out" 2>&1 || true
  cat "$work/verify-rows.out" >&2
  rout=$(tail -1 "$work/verify-rows.time"); rsecs=$(echo "$rout" | awk '{print $1}')
  grep -q "values differ: id=$((rows / 2))" "$work/verify-rows.out" || echo "bench: verify --rows did not name id=$((rows / 2))" >&2
  report verify-count "$rows" "$count_secs" "$(echo "$rows / $count_secs" | bc -l)" 0 "-" "  SELECT count(*) on both sides: $c1 / $c2"
  report verify-own "$rows" "$own_secs" "$(echo "$rows / $own_secs" | bc -l)" 0 "-" "  PostgreSQL sum(hashtext(row::text)) and MariaDB CHECKSUM TABLE, at once"
  report verify "$rows" "$secs" "$(echo "$rows / $secs" | bc -l)" 0 "$(echo "$out" | awk '{printf "%.0f", $2 / 1024}')" \
    "  ratio $(printf '%.1f' "$(echo "$secs / $count_secs" | bc -l)")x count(*), $(printf '%.1f' "$(echo "$secs / $own_secs" | bc -l)")x the servers' own checksums"
  report verify-rows "$rows" "$rsecs" "$(echo "$rows / $rsecs" | bc -l)" 0 "$(echo "$rout" | awk '{printf "%.0f", $2 / 1024}')" \
    "  ratio $(printf '%.1f' "$(echo "$rsecs / $count_secs" | bc -l)")x count(*); one changed row found"
fi

echo
echo "ingest bench, $rows rows, $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)"
printf '%s\n' "${results[@]}"
