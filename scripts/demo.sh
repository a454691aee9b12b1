#!/usr/bin/env bash
# The demo: on a fresh Debian 12 machine, replicate a small PostgreSQL shop
# database into MariaDB (standing in for SingleStore) and show what landed.
#
#   scripts/demo.sh          # builds, starts private servers, runs, stops them
#   scripts/demo.sh --keep   # leaves the servers and the demo folder for a look
#
# Steps: start private PostgreSQL + MariaDB (scripts/test-env.sh, installing
# packages as root where missing), create a sample schema, write a demo
# ingest.toml, run `full-extract`, change the source, run `delta`, print
# counts and checksums of both sides, `ingest status` and `ingest verify`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
keep=0
[ "${1:-}" = "--keep" ] && keep=1

say() { printf '\n== %s\n' "$*"; }

say "building ingest (release)"
cargo build --release --quiet
ingest=$PWD/target/release/ingest

say "starting private PostgreSQL and MariaDB"
eval "$(INGEST_PG18=0 scripts/test-env.sh start)"
demo=$INGEST_TEST_DIR/demo
mkdir -p "$demo"
cleanup() {
  if [ $keep = 1 ]; then
    echo
    echo "kept: demo folder $demo; stop the servers with: $root/scripts/test-env.sh stop $INGEST_TEST_DIR"
  else
    "$root/scripts/test-env.sh" stop "$INGEST_TEST_DIR"
  fi
}
trap cleanup EXIT

export PGPASSWORD=$INGEST_PG_PASSWORD
pg() { psql -X -q -v ON_ERROR_STOP=1 -h "$INGEST_PG_HOST" -p "$INGEST_PG_PORT" -U "$INGEST_PG_USER" "$@"; }
my() { mariadb --default-character-set=utf8mb4 -h "$INGEST_MY_HOST" -P "$INGEST_MY_PORT" -u "$INGEST_MY_USER" -p"$INGEST_MY_PASSWORD" "$@"; }

say "creating the sample database 'shop' in PostgreSQL"
pg -d postgres -c "CREATE DATABASE shop"
pg -d shop <<'SQL'
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE TABLE customers (
    id          bigint PRIMARY KEY,
    name        text NOT NULL,
    email       varchar(200),
    country     char(2),
    created_at  timestamptz NOT NULL,
    vip         boolean NOT NULL DEFAULT false,
    prefs       jsonb
);
CREATE TABLE products (
    sku         text PRIMARY KEY,
    title       text NOT NULL,
    price       numeric(12,2) NOT NULL,
    weight_kg   real,
    tags        text[],
    photo       bytea
);
CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers,
    status      order_status NOT NULL,
    ordered_on  date NOT NULL,
    note        text,
    ref         uuid NOT NULL
);
CREATE TABLE order_lines (
    order_id    bigint REFERENCES orders,
    line_no     int,
    sku         text REFERENCES products,
    qty         int NOT NULL,
    amount      numeric(14,2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
INSERT INTO customers
SELECT g, 'Customer ' || g || CASE WHEN g % 10 = 0 THEN ', "VIP"' ELSE '' END,
       'c' || g || '@example.com', (ARRAY['AU','NZ','US','DE','JP'])[1 + g % 5],
       timestamptz '2024-01-01 00:00:00+00' + g * interval '37 minutes', g % 10 = 0,
       jsonb_build_object('newsletter', g % 2 = 0, 'lang', (ARRAY['en','de','ja'])[1 + g % 3])
FROM generate_series(1, 2000) g;
INSERT INTO products
SELECT 'SKU-' || lpad(g::text, 4, '0'), 'Product ' || g || E'\nsecond line', (g * 3.7)::numeric(12,2),
       g / 10.0, ARRAY['tag' || g % 7, 'all'], decode(md5(g::text), 'hex')
FROM generate_series(1, 300) g;
INSERT INTO products VALUES ('SKU-OLD', 'Discontinued "classic"', 1.00, NULL, NULL, NULL);
INSERT INTO orders
SELECT g, 1 + g % 2000, (ARRAY['new','paid','shipped']::order_status[])[1 + g % 3],
       date '2024-01-01' + g % 300, CASE WHEN g % 7 = 0 THEN 'leave at the door, "please"' END,
       md5(g::text)::uuid
FROM generate_series(1, 5000) g;
INSERT INTO order_lines
SELECT o, l, 'SKU-' || lpad((1 + (o * l) % 300)::text, 4, '0'), 1 + l, (l * 9.95)::numeric(14,2)
FROM generate_series(1, 5000) o, generate_series(1, 3) l;
SQL

cat >"$demo/ingest.toml" <<TOML
# Demo instance written by scripts/demo.sh
[instance]
name = "demo"
state_dir = "state"
spool_dir = "spool"

[source]
type = "postgres"
host = "$INGEST_PG_HOST"
port = $INGEST_PG_PORT
database = "shop"
user = "$INGEST_PG_USER"
password = "$INGEST_PG_PASSWORD"
slot = "ingest_demo"
publication = "ingest_demo"

[destination]
type = "singlestore"
dialect = "mysql"
host = "$INGEST_MY_HOST"
port = $INGEST_MY_PORT
database = "mysql"
user = "$INGEST_MY_USER"
password = "$INGEST_MY_PASSWORD"
schema_for_all_tables = "shop_copy"
load_threads = 2

[[table]]
name = "public.*"
TOML
say "demo config: $demo/ingest.toml"

cd "$demo"
say "ingest check"
"$ingest" check
say "ingest tables"
"$ingest" tables
say "ingest full-extract"
"$ingest" -v full-extract

say "changing the source: updates, inserts, deletes, a key change, one transaction over three tables"
pg -d shop <<'SQL'
UPDATE customers SET vip = true, prefs = prefs || '{"upgraded": true}' WHERE id % 50 = 1;
UPDATE products SET price = price * 1.10 WHERE sku LIKE 'SKU-00%';
DELETE FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE status = 'new' AND id % 11 = 0);
DELETE FROM orders WHERE status = 'new' AND id % 11 = 0;
UPDATE orders SET status = 'shipped' WHERE status = 'paid' AND id % 5 = 0;
UPDATE products SET sku = 'SKU-RENAMED' WHERE sku = 'SKU-OLD';
BEGIN;
INSERT INTO customers VALUES (5001, 'Zoë Ünicode 😀', NULL, 'DE', now(), false, NULL);
INSERT INTO orders VALUES (9001, 5001, 'new', current_date, E'multi-line\nnote', gen_random_uuid());
INSERT INTO order_lines VALUES (9001, 1, 'SKU-0001', 2, 19.90);
COMMIT;
SQL
say "ingest delta"
"$ingest" -v delta

say "what landed: row counts and checksums, source vs destination"
for t in customers products orders order_lines; do
  src=$(pg -d shop -At -c "SELECT count(*) FROM $t")
  dst=$(my -N -e "SELECT count(*) FROM shop_copy.$t")
  printf '  %-12s source %6s rows   destination %6s rows\n' "$t" "$src" "$dst"
done
src_sum=$(pg -d shop -At -c "SELECT sum(amount), sum(qty) FROM order_lines")
dst_sum=$(my -N -e "SELECT sum(amount), sum(qty) FROM shop_copy.order_lines" | tr '\t' '|')
printf '  order_lines sum(amount)|sum(qty): source %s   destination %s\n' "$src_sum" "$dst_sum"
echo
my -e "SELECT id, name, country, created_at, vip, prefs FROM shop_copy.customers WHERE id IN (1, 10, 5001)"
my -e "SELECT sku, title, price, HEX(photo) AS photo FROM shop_copy.products WHERE sku IN ('SKU-0001', 'SKU-RENAMED')"

say "ingest status"
"$ingest" status
say "ingest verify: row counts and checksums of every value, computed by both servers"
"$ingest" verify
[ "$src_sum" = "$dst_sum" ] || { echo "demo: source and destination differ" >&2; exit 1; }
say "done: the destination equals the source"
