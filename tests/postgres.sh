#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on a free loopback port for the shared-state tests, and
# prints the line that hands its address to pytest:
#
#     eval "$(bash tests/postgres.sh)" && .venv/bin/python -m pytest
#
# Installs Debian's postgresql with apt-get when no server is on the machine. initdb and pg_ctl
# refuse to run as root, so as root the cluster belongs to (and runs as) the postgres user. The
# cluster lives in $KBATCH_PG_DIR (default /tmp/kbatch-postgres); a cluster already running there
# is reused. Password authentication over TCP, so the tests can check wrong credentials. When
# KBATCH_TEST_POSTGRES is set, the tests fail (never skip) if that server cannot be reached.
set -euo pipefail
dir="${KBATCH_PG_DIR:-/tmp/kbatch-postgres}"

find_bin() {
  local candidate
  for candidate in "${KBATCH_PG_BIN:-}" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -n "$candidate" ] && [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
      echo "$candidate"
      return 0
    fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v pg_ctl)"
    return 0
  fi
  return 1
}

if ! bin=$(find_bin); then
  if ! command -v apt-get >/dev/null; then
    echo "tests/postgres.sh: no PostgreSQL server and no apt-get: install PostgreSQL, or set KBATCH_PG_BIN" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
  fi
  echo "tests/postgres.sh: installing Debian's postgresql for the shared-state tests" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  bin=$(find_bin)
fi

# As root, everything runs as postgres, which must own the data and socket folders.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

password_file="$dir.password"
port_file="$dir.port"
if [ -f "$dir/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1 \
  && [ -f "$password_file" ] && [ -f "$port_file" ]; then
  port=$(cat "$port_file")
else
  if [ -d "$dir" ]; then
    as_owner "$bin/pg_ctl" -D "$dir" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$dir"
  fi
  mkdir -p "$dir"
  python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$password_file"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "$port" >"$port_file"
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir" "$password_file"
  fi
  as_owner "$bin/initdb" -D "$dir" -U postgres --pwfile="$password_file" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=200" \
    start >/dev/null
fi
echo "export KBATCH_TEST_POSTGRES='postgresql://postgres:$(cat "$password_file")@127.0.0.1:$port/postgres'"
