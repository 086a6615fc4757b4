#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: CI's and a developer's.
#
#   eval "$(.ci/postgres.sh start)"     # prints export VAULT_PG_DSN=... VAULT_PG_DIR=...
#   go test ./vault/store/postgres/     # or any test that reads VAULT_PG_DSN
#   .ci/postgres.sh stop "$VAULT_PG_DIR"
#
# start installs PostgreSQL (Debian's postgresql-15) if initdb and pg_ctl
# are missing, creates a cluster in a new temporary directory, and starts it
# on a free port of 127.0.0.1 as an unprivileged user (the postgres system
# user, or a vrmpg user created for it, when run as root). The tests log in
# as role vrmvault with a random password over TCP (scram-sha-256), so that
# the password really is part of the DSN and the tests can check it is
# never logged. stop stops the server and removes the directory.
#
# Everything but the export lines goes to stderr.
set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

install_postgres() {
  if [ "$(id -u)" != 0 ]; then
    log "initdb and pg_ctl are missing: install postgresql-15 (apt-get install postgresql-15)"
    exit 1
  fi
  log "installing postgresql-15"
  # No cluster of the package's own: the tests make theirs.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/vrmvault-ci.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql-15 >&2
}

# as_user runs a command as the unprivileged server user.
as_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PGUSER_OS" -- "$@"
  else
    "$@"
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local bindir dir port pw tries
  bindir=$(pg_bindir) || { install_postgres; bindir=$(pg_bindir); }
  if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then
      PGUSER_OS=postgres
    else
      PGUSER_OS=vrmpg
      id "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_OS"
    fi
  else
    PGUSER_OS=$(id -un)
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/vrmvault-pg.XXXXXX")
  chmod 700 "$dir"
  [ "$(id -u)" = 0 ] && chown "$PGUSER_OS" "$dir"
  pw=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')

  # trust on the Unix socket (in $dir, mode 0700) for setting up; a
  # password over TCP for the tests.
  as_user "$bindir/initdb" -D "$dir/data" -U postgres --no-locale -E UTF8 --no-sync \
    --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }

  for tries in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    port_in_use "$port" && continue
    if as_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300" >&2; then
      break
    fi
    port=""
    log "start on port failed (try $tries); retrying on another port"
  done
  if [ -z "$port" ]; then
    cat "$dir/server.log" >&2
    exit 1
  fi
  local psql="$bindir/psql"
  [ -x "$psql" ] || psql=psql
  "$psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres >&2 <<SQL
CREATE ROLE vrmvault LOGIN PASSWORD '$pw';
CREATE DATABASE vrmvault OWNER vrmvault;
SQL
  log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
  echo "export VAULT_PG_DIR='$dir'"
  echo "export VAULT_PG_DSN='postgres://vrmvault:$pw@127.0.0.1:$port/vrmvault?sslmode=disable'"
}

stop() {
  local dir=${1:-${VAULT_PG_DIR:-}} bindir
  if [ -z "$dir" ] || [ ! -d "$dir/data" ]; then
    log "stop: no cluster at '${dir}'"
    return 0
  fi
  bindir=$(pg_bindir)
  if [ "$(id -u)" = 0 ]; then PGUSER_OS=$(stat -c %U "$dir"); fi
  as_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 start | stop [DIR]" >&2; exit 2 ;;
esac
