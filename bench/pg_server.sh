# bench/pg_server.sh: sourced (POSIX sh) by bench/pg_cdc_bench.sh and
# tests/tools/debezium_capture.sh.  A throwaway PostgreSQL 15 for logical
# replication: initdb into a fresh temporary directory (as the postgres
# user when run as root: PostgreSQL refuses root), wal_level=logical, TCP
# on 127.0.0.1 only (a free port, never 5432: Debezium's JDBC driver needs
# TCP) and its unix socket inside that directory, fsync on.
#
#   . bench/pg_server.sh
#   pg_start || exit 1      # sets PG_TMP, PG_PORT, PG_PID, PG_LOG
#   pg_sql "SELECT 1"       # psql -X -q -A -t, stops on error
#   pg_stop                 # fast shutdown, SIGKILL after 30 s, rm -rf
#
# pg_start installs EXIT/INT/TERM traps that call pg_stop; a caller with
# its own cleanup calls pg_stop from it.  PG_DB (default mesh) is created.
# MESH_PG_BIN: the server binaries (default /usr/lib/postgresql/15/bin).

PG_BIN=${MESH_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DB=${PG_DB:-mesh}
PG_TMP=
PG_PID=
PG_PORT=
PG_LOG=
AS_PG=

pg_say() { echo "pg_server: $*" >&2; }

pg_stop() {
    if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
        kill -INT "$PG_PID" 2>/dev/null
        _i=0
        while kill -0 "$PG_PID" 2>/dev/null && [ "$_i" -lt 300 ]; do
            sleep 0.1
            _i=$((_i + 1))
        done
        kill -KILL "$PG_PID" 2>/dev/null
        wait "$PG_PID" 2>/dev/null
    fi
    PG_PID=
    if [ -n "$PG_TMP" ]; then
        rm -rf "$PG_TMP"
        PG_TMP=
    fi
}

pg_free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pg_start [EXTRA -c SETTINGS...]
pg_start() {
    for _b in initdb postgres pg_isready psql pg_recvlogical; do
        if [ ! -x "$PG_BIN/$_b" ]; then
            pg_say "$PG_BIN/$_b missing (make deps installs PostgreSQL 15)"
            return 1
        fi
    done
    if [ "$(id -u)" -eq 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            pg_say "running as root needs the 'postgres' user (make deps)"
            return 1
        fi
        # setpriv execs (no fork), so $! below is the postmaster itself.
        AS_PG="setpriv --reuid=postgres --regid=postgres --clear-groups --"
    fi
    trap pg_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-pgcdc.XXXXXX") || return 1
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PG_TMP"
    PG_LOG="$PG_TMP/postgres.log"
    if ! (cd "$PG_TMP" && exec $AS_PG "$PG_BIN/initdb" -D "$PG_TMP/data" \
            -U postgres --auth=trust --encoding=UTF8 --locale=C \
            --no-instructions) >"$PG_TMP/initdb.log" 2>&1; then
        pg_say "initdb failed:"
        cat "$PG_TMP/initdb.log" >&2
        return 1
    fi
    for _try in 1 2 3 4 5; do
        PG_PORT=$(pg_free_port) || return 1
        (cd "$PG_TMP" && exec $AS_PG "$PG_BIN/postgres" -D "$PG_TMP/data" \
            -c listen_addresses=127.0.0.1 -c "port=$PG_PORT" \
            -c "unix_socket_directories=$PG_TMP" -c fsync=on \
            -c wal_level=logical -c max_replication_slots=10 \
            -c max_wal_senders=10 -c logging_collector=off \
            -c log_min_messages=warning "$@") >>"$PG_LOG" 2>&1 </dev/null &
        PG_PID=$!
        _i=0
        while kill -0 "$PG_PID" 2>/dev/null && [ "$_i" -lt 300 ]; do
            if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" \
                    -d postgres -U postgres; then
                pg_sql_db postgres -c "CREATE DATABASE $PG_DB" >/dev/null ||
                    return 1
                return 0
            fi
            sleep 0.1
            _i=$((_i + 1))
        done
        # died (the port was taken meanwhile?) or never answered: retry
        kill -KILL "$PG_PID" 2>/dev/null
        wait "$PG_PID" 2>/dev/null
        PG_PID=
    done
    pg_say "postgres did not start:"
    cat "$PG_LOG" >&2
    return 1
}

pg_sql_db() {
    _db=$1
    shift
    "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
        -U postgres -d "$_db" "$@"
}

# pg_sql SQL: runs SQL in PG_DB; pg_sql -f FILE runs a file.
pg_sql() {
    if [ "$1" = "-f" ]; then
        pg_sql_db "$PG_DB" -f "$2"
    else
        pg_sql_db "$PG_DB" -c "$1"
    fi
}
