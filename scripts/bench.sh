#!/usr/bin/env bash
# Speed and memory of `ingest` against the databases' own bulk tools, on the
# same machine, in the same run (compare ratios, not absolute numbers: these
# machines are small and noisy).
#
#   scripts/bench.sh [rows]        # default 1000000
#
# Cases (each prints rows/s, MB/s of source data, ingest's peak RSS and the
# ratio ingest/native where a native reference exists):
#   pg-initial      PostgreSQL -> destination, one table. Native reference:
#                   psql "\copy (...) to stdout (format csv)" | mariadb LOAD DATA LOCAL INFILE '/dev/stdin'
#   my-initial      MariaDB -> destination, one table. Native reference:
#                   mariadb --quick --batch -e "SELECT ..." | mariadb LOAD DATA LOCAL INFILE '/dev/stdin'
#   pg-4tables-tN   four tables of rows/4 each, load_threads = 1, 2, 4
#   pg-delta        rows changes (70% updates, 20% inserts, 10% deletes) over 4
#                   tables, extract + load + merge. Reference: the same changes as
#                   single-row statements through one connection (mariadb < file),
#                   the way a JDBC sink applies them.
#   pg-200cols      a 200-column table of rows/10 rows (speed only).
# Still to come (issue 4): extract_threads, 5M-row memory runs, MySQL deltas.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rows=${1:-1000000}
command -v /usr/bin/time >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq time >/dev/null; }

cargo build --release --quiet
ingest=$root/target/release/ingest
eval "$(scripts/test-env.sh start)"
trap '"$root/scripts/test-env.sh" stop "$INGEST_TEST_DIR"' EXIT
work=$INGEST_TEST_DIR/bench
mkdir -p "$work"
export PGPASSWORD=$INGEST_PG_PASSWORD
pg() { psql -X -q -v ON_ERROR_STOP=1 -h "$INGEST_PG_HOST" -p "$INGEST_PG_PORT" -U "$INGEST_PG_USER" "$@"; }
my() { mariadb --default-character-set=utf8mb4 -h "$INGEST_MY_HOST" -P "$INGEST_MY_PORT" -u "$INGEST_MY_USER" -p"$INGEST_MY_PASSWORD" "$@"; }
now() { date +%s.%N; }
results=()
report() { results+=("$(printf '%-16s %10s rows %8.2f s %10.0f rows/s %7.1f MB/s %8s MB RSS %s' "$@")"); }

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
pg_table bench_t "$rows" 1
src_mb=$(pg -d bench -At -c "SELECT round(pg_total_relation_size('bench_t') / 1048576.0, 1)")
my -e "CREATE DATABASE mysrc; CREATE TABLE mysrc.bench_t (id BIGINT PRIMARY KEY, i INT, n DECIMAL(12,2), d DOUBLE,
  t LONGTEXT, v VARCHAR(64), b BOOLEAN, dt DATE, ts DATETIME(6), tz DATETIME(6), bi VARBINARY(16), s SMALLINT)"
pg -d bench -c "\\copy (SELECT id, i, n, d, t, v, b::int, dt, ts, tz AT TIME ZONE 'UTC', encode(by, 'hex'), s FROM bench_t) to '$work/seed.csv' (format csv, null 'NULL')"
my --local-infile=1 -e "LOAD DATA LOCAL INFILE '$work/seed.csv' INTO TABLE mysrc.bench_t FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''
  (id, i, n, d, t, v, b, dt, ts, tz, @bi, s) SET bi = UNHEX(@bi)"
rm -f "$work/seed.csv"

config() { # file source-block tables threads dest-db
  cat >"$1" <<TOML
[instance]
name = "bench"
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

run_ingest() { # dir -> prints "seconds rss_mb"
  local out
  out=$( { /usr/bin/time -f '%e %M' "$ingest" --config "$1/ingest.toml" full-extract >/dev/null; } 2>&1 | tail -1)
  echo "$out" | awk '{printf "%s %.0f\n", $1, $2 / 1024}'
}

# --- PostgreSQL -> destination, one table
say "pg-initial: ingest"
mkdir -p "$work/pg1"
config "$work/pg1/ingest.toml" "$pg_source" '[[table]]
name = "public.bench_t"' 4 dst_pg
read -r secs rss < <(run_ingest "$work/pg1")
report pg-initial "$rows" "$secs" "$(echo "$rows / $secs" | bc -l)" "$(echo "$src_mb / $secs" | bc -l)" "$rss" ""
ingest_pg=$secs

say "pg-initial: native psql | mariadb LOAD DATA"
my -e "CREATE DATABASE dst_native; CREATE TABLE dst_native.bench_t LIKE dst_pg.bench_t"
t0=$(now)
pg -d bench -c "\\copy (SELECT id, i, n, d, t, v, b::int, dt, ts, tz AT TIME ZONE 'UTC', encode(by, 'hex'), s FROM bench_t) to stdout (format csv, null 'NULL')" |
  my --local-infile=1 -e "LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE dst_native.bench_t FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''
    (id, i, n, d, t, v, b, dt, ts, tz, @by, s) SET \`by\` = UNHEX(@by)"
t1=$(now)
native=$(echo "$t1 - $t0" | bc -l)
report pg-native "$rows" "$native" "$(echo "$rows / $native" | bc -l)" "$(echo "$src_mb / $native" | bc -l)" "-" ""
results[-2]="${results[-2]}  ratio $(printf '%.2f' "$(echo "$native / $ingest_pg" | bc -l)")x native"

# --- MariaDB -> destination, one table
say "my-initial: ingest"
mkdir -p "$work/my1"
config "$work/my1/ingest.toml" "$my_source" '[[table]]
name = "mysrc.bench_t"' 4 dst_my
read -r secs rss < <(run_ingest "$work/my1")
report my-initial "$rows" "$secs" "$(echo "$rows / $secs" | bc -l)" "$(echo "$src_mb / $secs" | bc -l)" "$rss" ""
ingest_my=$secs

say "my-initial: native mariadb --quick | mariadb LOAD DATA"
my -e "DROP DATABASE dst_native; CREATE DATABASE dst_native; CREATE TABLE dst_native.bench_t LIKE dst_my.bench_t"
t0=$(now)
my --quick --batch --skip-column-names -e "SELECT id, i, n, d, t, v, b, dt, ts, tz, HEX(bi), s FROM mysrc.bench_t" |
  my --local-infile=1 -e "LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE dst_native.bench_t (id, i, n, d, t, v, b, dt, ts, tz, @bi, s) SET bi = UNHEX(@bi)"
t1=$(now)
native=$(echo "$t1 - $t0" | bc -l)
report my-native "$rows" "$native" "$(echo "$rows / $native" | bc -l)" "$(echo "$src_mb / $native" | bc -l)" "-" ""
results[-2]="${results[-2]}  ratio $(printf '%.2f' "$(echo "$native / $ingest_my" | bc -l)")x native"

# --- four tables, load_threads 1, 2, 4
quarter=$((rows / 4))
for k in 1 2 3 4; do pg_table "quad_$k" "$quarter" $(( (k - 1) * quarter + 1 )); done
for threads in 1 2 4; do
  say "pg-4tables: load_threads = $threads"
  mkdir -p "$work/quad$threads"
  pg -d bench -c "SELECT pg_drop_replication_slot('bench')" >/dev/null 2>&1 || true
  config "$work/quad$threads/ingest.toml" "$pg_source" '[[table]]
name = "public.quad_*"' "$threads" "dst_quad$threads"
  read -r secs rss < <(run_ingest "$work/quad$threads")
  report "pg-4tables-t$threads" "$((quarter * 4))" "$secs" "$(echo "$quarter * 4 / $secs" | bc -l)" "$(echo "$src_mb / $secs" | bc -l)" "$rss" ""
done

# --- a 200-column table
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

# --- delta: rows changes over 4 tables, against row-by-row statements
base=$((rows / 4))
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
my -e "CREATE DATABASE dst_ref"
for k in 1 2 3 4; do my -e "CREATE TABLE dst_ref.dt_$k LIKE dst_delta.dt_$k; INSERT INTO dst_ref.dt_$k SELECT * FROM dst_delta.dt_$k"; done
say "pg-delta: $rows changes at the source"
upd=$((base * 7 / 10)); del_hi=$((base * 8 / 10))
for k in 1 2 3 4; do
  pg -d bench -c "UPDATE dt_$k SET i = i + 1, t = t || ' changed' WHERE id <= $upd;
    DELETE FROM dt_$k WHERE id > $upd AND id <= $del_hi;
    INSERT INTO dt_$k SELECT g, g % 1000, g / 100.0, 'new ' || g, now() FROM generate_series($base + 1, $base + $base * 2 / 10) g;"
done
# The same changes as single-row statements, for the reference.
for k in 1 2 3 4; do
  pg -d bench -At -c "SELECT format('UPDATE dt_$k SET i = %s, t = %L WHERE id = %s;', i, t, id) FROM dt_$k WHERE id <= $upd
    UNION ALL SELECT format('DELETE FROM dt_$k WHERE id = %s;', g) FROM generate_series($upd + 1, $del_hi) g
    UNION ALL SELECT format('INSERT INTO dt_$k VALUES (%s, %s, %s, %L, %L);', id, i, n, t, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'))
      FROM dt_$k WHERE id > $base"
done >"$work/rowbyrow.sql"
changes=$(wc -l <"$work/rowbyrow.sql")
say "pg-delta: ingest delta"
t0=$(now)
out=$( { /usr/bin/time -f '%e %M' "$ingest" --config "$work/delta/ingest.toml" delta >/dev/null; } 2>&1 | tail -1)
secs=$(echo "$out" | awk '{print $1}'); rss=$(echo "$out" | awk '{printf "%.0f", $2 / 1024}')
delta_mb=$(echo "$(stat -c %s "$work/rowbyrow.sql") / 1048576" | bc -l)
report pg-delta "$changes" "$secs" "$(echo "$changes / $secs" | bc -l)" "$(echo "$delta_mb / $secs" | bc -l)" "$rss" ""
ingest_delta=$secs
say "pg-delta: row-by-row reference ($changes statements, one connection)"
t0=$(now)
my dst_ref <"$work/rowbyrow.sql"
t1=$(now)
rbr=$(echo "$t1 - $t0" | bc -l)
report row-by-row "$changes" "$rbr" "$(echo "$changes / $rbr" | bc -l)" "$(echo "$delta_mb / $rbr" | bc -l)" "-" ""
results[-2]="${results[-2]}  ratio $(printf '%.1f' "$(echo "$rbr / $ingest_delta" | bc -l)")x row-by-row"
for k in 1 2 3 4; do
  a=$(my -N -e "CHECKSUM TABLE dst_delta.dt_$k" | awk '{print $2}'); b=$(my -N -e "CHECKSUM TABLE dst_ref.dt_$k" | awk '{print $2}')
  [ "$a" = "$b" ] || echo "bench: dt_$k differs between ingest and the reference ($a vs $b)" >&2
done

echo
echo "ingest bench, $rows rows, $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)"
printf '%s\n' "${results[@]}"
