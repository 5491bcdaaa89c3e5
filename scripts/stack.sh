#!/usr/bin/env bash
# scripts/stack.sh - install and run, on 127.0.0.1, the real services the tests need:
#
#   docker    dockerd (Debian docker.io) on unix:///var/run/docker.sock, plus a local
#             busybox:latest image built from Debian's busybox-static (never pulled)
#   postgres  a private PostgreSQL cluster in .stack/postgres, 127.0.0.1:55432,
#             role zun/zun (superuser) and database zun
#   kafka     Apache Kafka (jars from Maven Central via scripts/kafka-pom.xml),
#             KRaft single node, PLAINTEXT://127.0.0.1:39092, data in .stack/kafka/data
#
# Usage: scripts/stack.sh install | up | down | status | env
#        scripts/stack.sh start|stop|restart docker|postgres|kafka
#
#   install  install what is missing (apt packages, Kafka jars); idempotent
#   up       install, then start every service that is not running and wait until healthy
#   down     stop kafka, postgres and dockerd (by pid file; bounded waits, then SIGKILL)
#   status   one line per service; exit status 3 if any service is not running
#   env      print the export lines the project reads (eval "$(scripts/stack.sh env)")
#
# Data survives stop/restart/down; delete .stack/ (and /var/lib/docker) to start afresh.
# With --live-restore, containers keep running while dockerd is stopped or restarted.
# Runs as root (apt-get, dockerd, runuser). Every network step runs under `timeout`.
#
# Environment (optional): STACK_NET_TIMEOUT (600), STACK_PG_PORT (55432),
# STACK_KAFKA_PORT (39092), STACK_KAFKA_CONTROLLER_PORT (39093), KAFKA_HEAP_OPTS (-Xmx512m),
# STACK_DOCKER_DATA_ROOT (/var/lib/docker), JAVA_HOME.
#
# A private pair of Kafka and PostgreSQL (e.g. for tests that stop and restart them while
# others use the shared one): ZUN_STACK_DIR (data, logs and pid files; default .stack),
# ZUN_STACK_PG_PORT, ZUN_STACK_KAFKA_PORT, ZUN_STACK_KAFKA_CONTROLLER_PORT (these win over
# the STACK_* names); ZUN_STACK_KAFKA_STOP_TIMEOUT (60): seconds of controlled shutdown
# before SIGKILL. The Kafka jars stay shared (ZUN_STACK_KAFKA_LIBS, default
# .stack/kafka/libs). Use only `start|stop|restart postgres|kafka`, `status` and `env` with
# a private ZUN_STACK_DIR: Docker is one per machine.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STACK="${ZUN_STACK_DIR:-$ROOT/.stack}"
NET_TIMEOUT="${STACK_NET_TIMEOUT:-600}"   # seconds for each apt-get / mvn call

# --- docker -----------------------------------------------------------------------------
DOCKER_DIR="$STACK/docker"
DOCKER_SOCK=/var/run/docker.sock
DOCKER_URL="unix://$DOCKER_SOCK"
DOCKER_PIDFILE="$DOCKER_DIR/dockerd.pid"
DOCKER_LOG="$DOCKER_DIR/dockerd.log"
DOCKER_DATA_ROOT="${STACK_DOCKER_DATA_ROOT:-/var/lib/docker}"
DOCKER_DRIVER_FILE="$DOCKER_DIR/storage-driver"   # the storage driver that worked last time
BUSYBOX_IMAGE=busybox:latest
BUSYBOX_ALIAS=local/busybox:latest                # the name used in stack-notes.md

# --- postgres ---------------------------------------------------------------------------
PG_PORT="${ZUN_STACK_PG_PORT:-${STACK_PG_PORT:-55432}}"
PG_HOST=127.0.0.1
PG_USER=zun
PG_PASSWORD=zun
PG_DB=zun
PG_DEFAULT_VERSION=15
# PG_DIR, PG_DATA, PG_SOCK, PG_LOG, PG_BIN are set by pg_paths.

# --- kafka ------------------------------------------------------------------------------
KAFKA_POM="$ROOT/scripts/kafka-pom.xml"
KAFKA_DIR="$STACK/kafka"
KAFKA_LIBS="${ZUN_STACK_KAFKA_LIBS:-$ROOT/.stack/kafka/libs}"   # shared by private stacks
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j2.properties"
KAFKA_LOG="$KAFKA_DIR/kafka.log"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${ZUN_STACK_KAFKA_PORT:-${STACK_KAFKA_PORT:-39092}}"
KAFKA_CONTROLLER_PORT="${ZUN_STACK_KAFKA_CONTROLLER_PORT:-${STACK_KAFKA_CONTROLLER_PORT:-39093}}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m}"
# kafka-run-class.sh's defaults
KAFKA_JVM_OPTS="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true"

# =======================================================================================
# helpers
# =======================================================================================
log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# show_log_tail FILE: the last lines of a service log, for failure reports.
show_log_tail() {
    local f=$1
    if [ -s "$f" ]; then
        printf '[stack] ---- last 40 lines of %s ----\n' "$f" >&2
        tail -n 40 "$f" >&2
        printf '[stack] ---- end of %s ----\n' "$f" >&2
    else
        log "(log $f is empty or missing)"
    fi
}

# pid_alive PID [PATTERN]: PID is a live (non-zombie) process whose command line
# contains PATTERN.
pid_alive() {
    local pid=$1 pattern=${2:-}
    [ -n "$pid" ] && [ "$pid" -gt 0 ] 2>/dev/null || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
    [ -z "$pattern" ] && return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# read_pid FILE: the first line of a pid file, or nothing.
read_pid() { [ -s "$1" ] && head -n1 "$1" | tr -dc '0-9' || true; }

# wait_for DESCRIPTION SECONDS LOGFILE PID COMMAND...
# Polls COMMAND until it succeeds. Fails - printing the tail of LOGFILE - once SECONDS
# have passed, or as soon as process PID (if not empty) has exited.
wait_for() {
    local desc=$1 secs=$2 logfile=$3 pid=$4 reason
    shift 4
    local deadline=$((SECONDS + secs))
    while :; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if [ -n "$pid" ] && ! pid_alive "$pid"; then
            reason="its process ($pid) exited"
            break
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            reason="not ready after ${secs}s"
            break
        fi
        sleep 0.5
    done
    log "ERROR: $desc: $reason"
    show_log_tail "$logfile"
    return 1
}

# stop_pid NAME PID PATTERN SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pid() {
    local name=$1 pid=$2 pattern=$3 secs=$4
    pid_alive "$pid" "$pattern" || return 0
    log "$name: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + secs))
    while pid_alive "$pid" "$pattern" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if pid_alive "$pid" "$pattern"; then
        log "$name: still running after ${secs}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while pid_alive "$pid" "$pattern" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        pid_alive "$pid" "$pattern" && die "$name: pid $pid survived SIGKILL"
    fi
    log "$name: stopped"
}

# spawn PIDFILE LOGFILE COMMAND...: run COMMAND detached (own session, no stdin, output
# appended to LOGFILE) so that it outlives this script; its pid goes to PIDFILE and
# SPAWNED_PID.
SPAWNED_PID=
spawn() {
    local pidfile=$1 logfile=$2
    shift 2
    rm -f "$pidfile"
    # shellcheck disable=SC2016  # $$ and $0 belong to the inner shell
    # 9>&-: the child must not inherit the lock on .stack/.lock
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
    local deadline=$((SECONDS + 10))
    while [ ! -s "$pidfile" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    SPAWNED_PID=$(read_pid "$pidfile")
    [ -n "$SPAWNED_PID" ] || die "could not start: $*"
}

# tcp_open PORT: something accepts connections on 127.0.0.1:PORT.
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# require_port_free NAME PORT
require_port_free() {
    if tcp_open "$2"; then
        die "$1: port 127.0.0.1:$2 is already taken by another process: $(ss -ltnpH "sport = :$2" 2>/dev/null | head -n1)"
    fi
}

# apt_install PACKAGE...: install Debian packages without starting their services;
# `apt-get update` only if the first attempt fails.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    local made_policy=0 rc=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # keep the packages' init scripts from starting a system dockerd/postgres
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    log "apt-get install $*"
    local opts=(-y -q --no-install-recommends -o Dpkg::Use-Pty=0)
    if ! timeout "$NET_TIMEOUT" apt-get install "${opts[@]}" "$@"; then
        log "apt-get install failed; running apt-get update and trying again"
        timeout "$NET_TIMEOUT" apt-get update -q || true
        timeout "$NET_TIMEOUT" apt-get install "${opts[@]}" "$@" || rc=$?
    fi
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || die "apt-get install $* failed (exit $rc)"
}

deb_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

# =======================================================================================
# docker
# =======================================================================================
docker_cli() { DOCKER_HOST="$DOCKER_URL" timeout 60 docker "$@"; }
docker_answers() { DOCKER_HOST="$DOCKER_URL" timeout 10 docker info >/dev/null 2>&1; }
docker_pid() { read_pid "$DOCKER_PIDFILE"; }
docker_running() { pid_alive "$(docker_pid)" dockerd; }

docker_install() {
    local pkgs=()
    command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
    deb_installed busybox-static || pkgs+=(busybox-static)
    if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found after installing docker.io"
    command -v docker >/dev/null 2>&1 || die "docker CLI not found"
}

# docker_clear_stale_containerd: dockerd runs its own containerd and kills it when it dies
# (even by SIGKILL). If the pid file of that containerd names a process that is gone or
# a not yet reaped zombie, a new dockerd takes it for alive, waits for its socket and
# fails with "timeout waiting for containerd to start". Drop such a pid file.
docker_clear_stale_containerd() {
    local f=/var/run/docker/containerd/containerd.pid pid
    pid=$(read_pid "$f")
    [ -n "$pid" ] || return 0
    local deadline=$((SECONDS + 5))
    while pid_alive "$pid" containerd && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if ! pid_alive "$pid" containerd; then
        rm -f "$f"
    fi
}

# docker_launch DRIVER: start dockerd in the background with that storage driver.
# Sets DOCKER_LOG_OFFSET to where this attempt's lines start in the log.
DOCKER_LOG_OFFSET=0
docker_launch() {
    mkdir -p "$DOCKER_DIR"
    docker_clear_stale_containerd
    printf '\n==== %s: starting dockerd --storage-driver=%s ====\n' "$(date -Is)" "$1" >>"$DOCKER_LOG"
    DOCKER_LOG_OFFSET=$(stat -c %s "$DOCKER_LOG")
    spawn "$DOCKER_DIR/launcher.pid" "$DOCKER_LOG" \
        dockerd --storage-driver="$1" --iptables=false --live-restore \
        --host="$DOCKER_URL" --pidfile "$DOCKER_PIDFILE" --data-root "$DOCKER_DATA_ROOT"
    rm -f "$DOCKER_DIR/launcher.pid"   # dockerd writes its own pid file
}

# docker_driver_failed: the last dockerd attempt failed because of its storage driver.
docker_driver_failed() {
    tail -c +"$((DOCKER_LOG_OFFSET + 1))" "$DOCKER_LOG" |
        grep -iE 'failed to start daemon|level=(error|fatal)' |
        grep -qiE 'graphdriver|storage.driver|driver not supported|overlay'
}

docker_start() {
    docker_install
    if docker_running; then
        log "docker: already running (pid $(docker_pid))"
    elif docker_answers; then
        log "docker: an engine not started by stack.sh already answers on $DOCKER_URL; using it"
    else
        mkdir -p "$DOCKER_DIR"
        # a stale pid file whose pid was reused would make dockerd refuse to start
        rm -f "$DOCKER_PIDFILE"
        # the driver that worked last time first (its images live there), then overlay2,
        # then vfs - moving on only when dockerd failed because of the driver
        local remembered="" drivers d ok=0
        [ -s "$DOCKER_DRIVER_FILE" ] && remembered=$(cat "$DOCKER_DRIVER_FILE")
        drivers=$(printf '%s\n' ${remembered:+"$remembered"} overlay2 vfs | awk 'NF && !seen[$0]++')
        for d in $drivers; do
            log "docker: starting dockerd (storage driver $d)"
            docker_launch "$d"
            if wait_for "dockerd (storage driver $d)" 60 "$DOCKER_LOG" "$SPAWNED_PID" docker_answers; then
                ok=1
                break
            fi
            stop_pid dockerd "$SPAWNED_PID" dockerd 30
            docker_driver_failed || die "docker: dockerd did not start (see $DOCKER_LOG)"
            log "docker: storage driver $d does not work here"
        done
        [ "$ok" = 1 ] || die "docker: dockerd did not start with any storage driver ($DOCKER_LOG)"
        docker_cli info --format '{{.Driver}}' >"$DOCKER_DRIVER_FILE"
        log "docker: ready, pid $(docker_pid), storage driver $(cat "$DOCKER_DRIVER_FILE")"
    fi
    docker_ensure_busybox
}

# docker_ensure_busybox: a local busybox:latest made from Debian's busybox-static
# (no registry is reachable, so never `docker pull`).
docker_ensure_busybox() {
    if docker_cli image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then
        docker_cli image inspect "$BUSYBOX_ALIAS" >/dev/null 2>&1 ||
            docker_cli tag "$BUSYBOX_IMAGE" "$BUSYBOX_ALIAS"
        return 0
    fi
    local bb=/bin/busybox
    [ -x "$bb" ] || bb=$(command -v busybox || true)
    [ -n "$bb" ] && [ -x "$bb" ] || die "docker: /bin/busybox missing (package busybox-static)"
    log "docker: building $BUSYBOX_IMAGE from $bb ($(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo '?'))"
    local tmp rootfs applet
    tmp=$(mktemp -d)
    rootfs="$tmp/rootfs"
    mkdir -p "$rootfs"/{bin,etc,tmp,root,home,proc,sys,dev,var,usr/bin,usr/sbin,sbin}
    cp "$bb" "$rootfs/bin/busybox"
    chmod 755 "$rootfs/bin/busybox"
    # what `busybox --install -s /bin` does, relative to the image instead of the host
    for applet in $("$bb" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    ln -sf /bin/env "$rootfs/usr/bin/env"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"
    chmod 1777 "$rootfs/tmp"
    chmod 700 "$rootfs/root"
    if ! tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
        docker_cli import \
            --change 'CMD ["sh"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --message "busybox-static $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true) via scripts/stack.sh" \
            - "$BUSYBOX_IMAGE" >/dev/null; then
        rm -rf "$tmp"
        die "docker: docker import of $BUSYBOX_IMAGE failed"
    fi
    rm -rf "$tmp"
    docker_cli tag "$BUSYBOX_IMAGE" "$BUSYBOX_ALIAS"
    log "docker: $BUSYBOX_IMAGE ready (also tagged $BUSYBOX_ALIAS)"
}

docker_stop() {
    local pid
    pid=$(docker_pid)
    if docker_running; then
        # --live-restore: containers keep running while dockerd is down
        stop_pid dockerd "$pid" dockerd 60
    elif docker_answers; then
        log "docker: the engine on $DOCKER_URL was not started by stack.sh; leaving it alone"
    else
        log "docker: not running"
    fi
    rm -f "$DOCKER_PIDFILE"
}

docker_status() {
    if docker_running; then
        echo "docker    running  pid $(docker_pid), $DOCKER_URL, storage driver $(cat "$DOCKER_DRIVER_FILE" 2>/dev/null || echo '?'), log $DOCKER_LOG"
    elif docker_answers; then
        echo "docker    running  (not started by stack.sh) on $DOCKER_URL"
    else
        echo "docker    stopped"
        return 1
    fi
}

# =======================================================================================
# postgres
# =======================================================================================

# pg_paths: where the cluster lives. Normally .stack/postgres; if the postgres user
# cannot reach the checkout (e.g. it sits below a 0700 home directory) pg_prepare_dir
# puts it below /var/lib/postgresql and leaves .stack/postgres as a symlink to it.
pg_paths() {
    PG_DIR="$STACK/postgres"
    [ -L "$PG_DIR" ] && PG_DIR=$(readlink -f "$PG_DIR")
    PG_DATA="$PG_DIR/data"
    PG_SOCK="$PG_DIR/run"
    PG_LOG="$PG_DIR/postgres.log"
    local v=$PG_DEFAULT_VERSION
    if [ -s "$PG_DATA/PG_VERSION" ]; then
        v=$(cat "$PG_DATA/PG_VERSION")
    elif [ ! -x "/usr/lib/postgresql/$v/bin/initdb" ]; then
        # newest installed server, if 15 is not there
        local newest
        newest=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
        [ -n "$newest" ] && v=$(basename "$(dirname "$(dirname "$newest")")")
    fi
    PG_BIN="/usr/lib/postgresql/$v/bin"
}

as_postgres() { (cd / && runuser -u postgres -- "$@"); }

pg_install() {
    pg_paths
    if [ ! -x "$PG_BIN/initdb" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        apt_install postgresql
        pg_paths
    fi
    [ -x "$PG_BIN/initdb" ] || die "postgres: no initdb in $PG_BIN"
    id postgres >/dev/null 2>&1 || die "postgres: no unix user 'postgres'"
}

pg_prepare_dir() {
    local d="$STACK/postgres"
    if [ ! -L "$d" ]; then
        mkdir -p "$d"
        chown postgres:postgres "$d"
        if ! runuser -u postgres -- test -w "$d" -a -x "$d"; then
            local alt
            alt="/var/lib/postgresql/zun-stack-$(printf '%s' "${ZUN_STACK_DIR:-$ROOT}" | sha256sum | cut -c1-12)"
            log "postgres: user postgres cannot reach $d; keeping the cluster in $alt"
            rmdir "$d" 2>/dev/null || die "postgres: $d is not empty but unreachable for user postgres"
            mkdir -p "$alt"
            chown postgres:postgres "$alt"
            ln -s "$alt" "$d"
        fi
    fi
    pg_paths
    # the socket path must fit in sun_path (107 bytes)
    [ $((${#PG_SOCK} + 18)) -le 107 ] || die "postgres: socket path $PG_SOCK is too long"
    mkdir -p "$PG_SOCK"
    chown postgres:postgres "$PG_DIR" "$PG_SOCK"
    touch "$PG_LOG"
    chown postgres:postgres "$PG_LOG"
}

pg_initdb() {
    [ -s "$PG_DATA/PG_VERSION" ] && return 0
    log "postgres: initdb $PG_DATA ($PG_BIN)"
    rm -rf "$PG_DATA"
    mkdir -p "$PG_DATA"
    chown postgres:postgres "$PG_DATA"
    chmod 700 "$PG_DATA"
    as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >>"$PG_LOG" 2>&1 ||
        { show_log_tail "$PG_LOG"; die "postgres: initdb failed"; }
    cat >>"$PG_DATA/postgresql.conf" <<EOF

# ---- test stack (scripts/stack.sh) ----
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
fsync = off
max_connections = 300
EOF
}

pg_ready() { "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 2; }
pg_pid() { read_pid "$PG_DATA/postmaster.pid"; }
# (not `pg_ctl status`: it takes a killed, not yet reaped postmaster for running)
pg_running() { pg_paths; pid_alive "$(pg_pid)" "$PG_DATA"; }
pg_psql() { as_postgres "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"; }

# pg_live_procs: pids of live processes of this cluster (they all run in $PG_DATA).
pg_live_procs() {
    local d pid
    for d in /proc/[0-9]*; do
        [ "$(readlink "$d/cwd" 2>/dev/null)" = "$PG_DATA" ] || continue
        pid=${d#/proc/}
        pid_alive "$pid" && printf '%s ' "$pid"
    done
    return 0
}

# pg_clear_stale_locks: after a crash (SIGKILL) postmaster.pid and the socket's lock file
# name a dead postmaster, which on a machine whose init is slow to reap can stay a zombie
# for a while: postgres takes it for alive and refuses to start. Once no process of the
# old cluster is left, both lock files are stale.
pg_clear_stale_locks() {
    local sock_lock="$PG_SOCK/.s.PGSQL.$PG_PORT.lock"
    [ -e "$PG_DATA/postmaster.pid" ] || [ -e "$sock_lock" ] || return 0
    local deadline=$((SECONDS + 20)) left
    while left=$(pg_live_procs) && [ -n "$left" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
    [ -z "$left" ] || die "postgres: old server processes still running in $PG_DATA: $left"
    rm -f "$PG_DATA/postmaster.pid" "$sock_lock"
}

pg_ensure_role_and_db() {
    pg_psql -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER') THEN
            CREATE ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
        END IF; END \$\$;" >/dev/null
    if [ "$(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
        pg_psql -c "CREATE DATABASE $PG_DB OWNER $PG_USER" >/dev/null
        log "postgres: created role $PG_USER and database $PG_DB"
    fi
}

pg_start() {
    pg_install
    pg_prepare_dir
    if pg_running; then
        log "postgres: already running (pid $(pg_pid))"
    else
        pg_initdb
        pg_clear_stale_locks
        require_port_free postgres "$PG_PORT"
        log "postgres: starting on $PG_HOST:$PG_PORT"
        # pg_ctl -w notices at once when the postmaster dies; pg_isready is the health check
        setsid bash -c 'cd / && exec runuser -u postgres -- "$@"' _ \
            "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null </dev/null 9>&- ||
            { show_log_tail "$PG_LOG"; die "postgres: pg_ctl start failed"; }
        wait_for "postgres on $PG_HOST:$PG_PORT" 60 "$PG_LOG" "" pg_ready || die "postgres did not become ready"
        log "postgres: ready, pid $(pg_pid)"
    fi
    pg_ensure_role_and_db
}

pg_stop() {
    pg_paths
    if ! pg_running; then
        log "postgres: not running"
        return 0
    fi
    local pid
    pid=$(pg_pid)
    log "postgres: stopping (pid $pid)"
    if ! as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1; then
        log "postgres: fast shutdown timed out; immediate shutdown"
        as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
        stop_pid postgres "$pid" postgres 1
    fi
    log "postgres: stopped"
}

pg_status() {
    pg_paths
    if pg_running; then
        echo "postgres  running  pid $(pg_pid), $PG_HOST:$PG_PORT (socket $PG_SOCK), data $PG_DATA, log $PG_LOG"
    else
        echo "postgres  stopped"
        return 1
    fi
}

# =======================================================================================
# kafka
# =======================================================================================
kafka_pid() { read_pid "$KAFKA_PIDFILE"; }
kafka_running() { pid_alive "$(kafka_pid)" "$KAFKA_PROPS"; }
kafka_pom_hash() { sha256sum "$KAFKA_POM" | cut -c1-64; }
kafka_version() { ls "$KAFKA_LIBS"/kafka_2.13-*.jar 2>/dev/null | sed -n 's/.*kafka_2\.13-\(.*\)\.jar$/\1/p' | head -n1; }

# java_bin: a java 17+ (Kafka 4.x brokers need it).
java_bin() {
    local j
    for j in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java 2>/dev/null || true)"; do
        [ -n "$j" ] && [ -x "$j" ] || continue
        local v
        v=$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
        if [ "${v%%.*}" -ge 17 ] 2>/dev/null; then
            echo "$j"
            return 0
        fi
    done
    return 1
}

kafka_install() {
    local pkgs=()
    java_bin >/dev/null || pkgs+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
    if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
    java_bin >/dev/null || die "kafka: no Java 17+ found (set JAVA_HOME)"
    local want
    want=$(kafka_pom_hash)
    if [ -f "$KAFKA_LIBS/.pom-sha256" ] && [ "$(cat "$KAFKA_LIBS/.pom-sha256")" = "$want" ] &&
        [ -n "$(kafka_version)" ]; then
        return 0
    fi
    log "kafka: resolving broker jars from $KAFKA_POM with Maven"
    mkdir -p "$KAFKA_DIR"
    local tmp="$KAFKA_DIR/libs.tmp"
    rm -rf "$tmp"
    timeout "$NET_TIMEOUT" mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
        >"$KAFKA_DIR/mvn.log" 2>&1 ||
        { show_log_tail "$KAFKA_DIR/mvn.log"; die "kafka: mvn dependency:copy-dependencies failed"; }
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka: no kafka_2.13 jar was resolved"
    echo "$want" >"$tmp/.pom-sha256"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    log "kafka: $(ls "$KAFKA_LIBS"/*.jar | wc -l) jars for Kafka $(kafka_version) in $KAFKA_LIBS"
}

kafka_write_config() {
    mkdir -p "$KAFKA_DATA"
    cat >"$KAFKA_PROPS" <<EOF
# Written by scripts/stack.sh - single-node KRaft (combined broker + controller) for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=6
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# lets tests use short consumer session timeouts (the broker default minimum is 6000)
group.min.session.timeout.ms=1000
# after a SIGKILL the restarted broker cannot register until the old registration's
# session expires (default 9000 ms, so ~10 s of DUPLICATE_BROKER_REGISTRATION)
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
EOF
    cat >"$KAFKA_LOG4J" <<'EOF'
# Written by scripts/stack.sh - everything to stdout, which goes to .stack/kafka/kafka.log
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.requestchannel.name = kafka.network.RequestChannel$
logger.requestchannel.level = WARN
EOF
}

# kafka_java_cmd HEAP: sets KAFKA_JAVA to a java command line with the broker
# classpath and logging set up; append the main class and its arguments.
kafka_java_cmd() {
    local java
    java=$(java_bin) || die "kafka: no Java 17+ found"
    # shellcheck disable=SC2206  # the option strings are word lists
    KAFKA_JAVA=("$java" $1 $KAFKA_JVM_OPTS -Dkafka.logs.dir="$KAFKA_DIR"
        -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*")
}

kafka_format() {
    [ -f "$KAFKA_DATA/meta.properties" ] && return 0
    local id
    kafka_java_cmd -Xmx256m   # as kafka-run-class.sh does for tools
    id=$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    [ -n "$id" ] || die "kafka: StorageTool random-uuid failed"
    log "kafka: formatting $KAFKA_DATA (cluster id $id)"
    # static quorum (controller.quorum.voters), so no --standalone
    "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format \
        -t "$id" -c "$KAFKA_PROPS" --ignore-formatted >"$KAFKA_DIR/format.log" 2>&1 ||
        { show_log_tail "$KAFKA_DIR/format.log"; die "kafka: storage format failed"; }
}

# kafka_ready: the broker answers a Metadata request listing at least one live broker.
# Raw protocol (ApiVersions v0, then Metadata at a non-flexible version), so that no
# Kafka client library is needed.
kafka_ready() {
    tcp_open "$KAFKA_PORT" || return 1
    command -v python3 >/dev/null 2>&1 || return 0   # fall back to "the port is open"
    python3 - "$KAFKA_HOST" "$KAFKA_PORT" <<'PY'
import socket, struct, sys

sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)

def call(api_key, version, corr, body=b""):
    client = b"stack.sh"
    req = struct.pack(">hhih", api_key, version, corr, len(client)) + client + body
    sock.sendall(struct.pack(">i", len(req)) + req)
    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf
    (size,) = struct.unpack(">i", read(4))
    resp = read(size)
    assert struct.unpack(">i", resp[:4])[0] == corr
    return resp[4:]

resp = call(18, 0, 1)                                   # ApiVersions v0
(err, n) = struct.unpack(">hi", resp[:6])
assert err == 0, "ApiVersions error %d" % err
versions = {}
for i in range(n):
    k, lo, hi = struct.unpack(">hhh", resp[6 + 6 * i: 12 + 6 * i])
    versions[k] = (lo, hi)
lo, hi = versions[3]                                    # Metadata
v = max(lo, 1)
assert v <= min(hi, 8), "no non-flexible Metadata version in %r" % ((lo, hi),)
body = struct.pack(">i", -1)                            # topics = null: all
if v >= 4:
    body += b"\x00"                                     # allow_auto_topic_creation = false
resp = call(3, v, 2, body)
off = 4 if v >= 3 else 0                                # throttle_time_ms
(brokers,) = struct.unpack(">i", resp[off:off + 4])
sys.exit(0 if brokers >= 1 else 1)
PY
}

kafka_start() {
    kafka_install
    if kafka_running; then
        log "kafka: already running (pid $(kafka_pid))"
        return 0
    fi
    kafka_write_config
    kafka_format
    require_port_free kafka "$KAFKA_PORT"
    require_port_free "kafka controller" "$KAFKA_CONTROLLER_PORT"
    log "kafka: starting Kafka $(kafka_version) on $KAFKA_HOST:$KAFKA_PORT"
    printf '\n==== %s: starting kafka ====\n' "$(date -Is)" >>"$KAFKA_LOG"
    kafka_java_cmd "$KAFKA_HEAP_OPTS"
    spawn "$KAFKA_PIDFILE" "$KAFKA_LOG" "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_PROPS"
    wait_for "kafka on $KAFKA_HOST:$KAFKA_PORT" 120 "$KAFKA_LOG" "$SPAWNED_PID" kafka_ready ||
        die "kafka did not become ready"
    log "kafka: ready, pid $(kafka_pid)"
}

kafka_stop() {
    if kafka_running; then
        # a controlled shutdown of a single node takes a few seconds
        stop_pid kafka "$(kafka_pid)" "$KAFKA_PROPS" "${ZUN_STACK_KAFKA_STOP_TIMEOUT:-60}"
    else
        log "kafka: not running"
    fi
    rm -f "$KAFKA_PIDFILE"
}

kafka_status() {
    if kafka_running; then
        echo "kafka     running  pid $(kafka_pid), Kafka $(kafka_version), PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT, data $KAFKA_DATA, log $KAFKA_LOG"
    else
        echo "kafka     stopped"
        return 1
    fi
}

# =======================================================================================
# commands
# =======================================================================================
lock() {
    mkdir -p "$STACK"
    exec 9>"$STACK/.lock"
    flock -w 900 9 || die "another scripts/stack.sh holds $STACK/.lock"
}

require_root() { [ "$(id -u)" = 0 ] || die "run as root (apt-get, dockerd, runuser)"; }

cmd_install() { docker_install; pg_install; kafka_install; }

cmd_up() {
    local t0=$SECONDS
    cmd_install
    docker_start
    pg_start
    kafka_start
    log "up: all services ready in $((SECONDS - t0))s"
}

cmd_down() {
    kafka_stop
    pg_stop
    docker_stop
}

cmd_status() {
    local rc=0
    docker_status || rc=3
    pg_status || rc=3
    kafka_status || rc=3
    return $rc
}

cmd_env() {
    cat <<EOF
export ZUN_KAFKA_BOOTSTRAP=$KAFKA_HOST:$KAFKA_PORT
export ZUN_DATABASE_URL=postgresql://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DB
export ZUN_DOCKER_HOST=$DOCKER_URL
EOF
}

service_fn() {   # service_fn ACTION SERVICE -> function name
    case "$2" in
    docker) echo "docker_$1" ;;
    postgres | postgresql | pg) echo "pg_$1" ;;
    kafka) echo "kafka_$1" ;;
    *) die "unknown service '$2' (docker, postgres, kafka)" ;;
    esac
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

main() {
    local cmd=${1:-}
    case "$cmd" in
    install | up | down)
        require_root
        lock
        "cmd_$cmd"
        ;;
    status) cmd_status ;;
    env) cmd_env ;;
    start | stop)
        [ $# -eq 2 ] || usage
        require_root
        lock
        "$(service_fn "$cmd" "$2")"
        ;;
    restart)
        [ $# -eq 2 ] || usage
        require_root
        lock
        local stop start
        stop=$(service_fn stop "$2")
        start=$(service_fn start "$2")
        "$stop"
        "$start"
        ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
