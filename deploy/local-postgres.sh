#!/usr/bin/env bash
# local-postgres.sh: a private PostgreSQL cluster for Sonde development and
# tests (never for production: trust authentication, loopback only).
#
#   local-postgres.sh start   DATADIR PORT   create if needed, start, print the URL
#   local-postgres.sh stop    DATADIR        stop (no error when not running)
#   local-postgres.sh url     DATADIR PORT   print the libpq connection string
#   local-postgres.sh destroy DATADIR        stop, then delete the cluster's files
#
# The cluster listens on 127.0.0.1:PORT only, keeps its Unix socket inside the
# data directory, logs to DATADIR/log/ and has one superuser, `sonde`, and one
# database, `sonde`. `start` prints the connection string on stdout (and nothing
# else), so `PG=$(local-postgres.sh start DIR 5433)` works.
#
# PostgreSQL refuses to run as root. When run as root, the cluster belongs to
# the `postgres` system user (created if missing) and every server command runs
# through `runuser -u postgres --`. If that user cannot reach DATADIR (a
# checkout under /root, say), or DATADIR is too long for a Unix socket path,
# the cluster lives in a `mktemp -d /tmp/sonde-pg.XXXX` directory and DATADIR
# becomes a symbolic link to it.
set -euo pipefail

readonly PROG="local-postgres.sh"
readonly SUPERUSER="sonde"
readonly DATABASE="sonde"
# Unix socket paths are limited to 107 bytes; ".s.PGSQL.65535" takes 15.
readonly MAX_SOCKET_DIR_LEN=90

die() {
  echo "${PROG}: error: $*" >&2
  exit 1
}

note() {
  echo "${PROG}: $*" >&2
}

usage() {
  local code="${1:-2}"
  # Asked-for help goes to stdout; help after a usage error to stderr.
  if ((code != 0)); then
    exec 1>&2
  fi
  cat <<EOF
usage: ${PROG} start DATADIR PORT    create (if needed) and start a cluster; prints its URL
       ${PROG} stop DATADIR          stop the cluster (no error when not running)
       ${PROG} url DATADIR PORT      print the libpq connection string
       ${PROG} destroy DATADIR       stop the cluster and delete its files
EOF
  exit "${code}"
}

is_root() {
  [[ "$(id -u)" -eq 0 ]]
}

# The newest installed PostgreSQL's bin directory.
find_bindir() {
  local dir
  # shellcheck disable=SC2012  # version-sorted directory names, no odd characters
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [[ -z "${dir}" || ! -x "${dir}/initdb" || ! -x "${dir}/pg_ctl" ]]; then
    die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (install the postgresql package)"
  fi
  echo "${dir}"
}

# Runs a command as the cluster's owner: postgres when we are root, else us.
# The working directory is / so that postgres never trips over an unreadable cwd.
as_owner() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

ensure_postgres_user() {
  is_root || return 0
  if ! id -u postgres >/dev/null 2>&1; then
    note "creating system user postgres"
    useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
      --shell /usr/sbin/nologin postgres ||
      die "cannot create the postgres system user (useradd failed)"
  fi
}

check_port() {
  local port="$1"
  if [[ ! "${port}" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    die "PORT must be a number in 1..65535, got \"${port}\""
  fi
}

# Prints the directory that really holds the cluster behind DATADIR (DATADIR
# itself, or the target of its symbolic link), or nothing when there is none.
real_dir() {
  local datadir="$1"
  if [[ -L "${datadir}" ]]; then
    local target
    target="$(readlink -- "${datadir}")"
    [[ -d "${target}" ]] && echo "${target}"
    return 0
  fi
  [[ -d "${datadir}" ]] && (cd -- "${datadir}" && pwd -P)
  return 0
}

owner_can_use() {
  local dir="$1"
  if is_root; then
    runuser -u postgres -- test -r "${dir}" -a -w "${dir}" -a -x "${dir}" 2>/dev/null
  else
    [[ -r "${dir}" && -w "${dir}" && -x "${dir}" ]]
  fi
}

# Makes DATADIR point at a fresh private directory under /tmp.
relocate_to_tmp() {
  local datadir="$1" why="$2" tmp
  tmp="$(mktemp -d /tmp/sonde-pg.XXXX)" || die "mktemp -d /tmp/sonde-pg.XXXX failed"
  if [[ -L "${datadir}" ]]; then
    rm -f -- "${datadir}" || die "cannot replace the stale link ${datadir}"
  elif [[ -d "${datadir}" ]]; then
    rmdir -- "${datadir}" 2>/dev/null ||
      die "${datadir} is not empty and ${why}; give an empty or new directory"
  fi
  ln -s -- "${tmp}" "${datadir}" || die "cannot create the link ${datadir} -> ${tmp}"
  note "${why}: the cluster lives in ${tmp} (${datadir} links to it)"
  echo "${tmp}"
}

# Prints the directory to initialise or start, creating or relocating it.
prepare_dir() {
  local datadir="$1" dir
  if [[ -L "${datadir}" && ! -d "${datadir}" ]]; then
    note "${datadir} links to $(readlink -- "${datadir}"), which is gone; making a new cluster"
    relocate_to_tmp "${datadir}" "the old cluster directory is gone"
    return 0
  fi
  if [[ -e "${datadir}" && ! -d "${datadir}" ]]; then
    die "${datadir} exists and is not a directory"
  fi
  mkdir -p -- "${datadir}" || die "cannot create ${datadir}"
  dir="$(real_dir "${datadir}")"
  if [[ -f "${dir}/PG_VERSION" ]]; then
    echo "${dir}"
    return 0
  fi
  if [[ -n "$(ls -A -- "${dir}")" ]]; then
    die "${datadir} is not empty and holds no PostgreSQL cluster (no PG_VERSION); refusing to touch it"
  fi
  if ((${#dir} > MAX_SOCKET_DIR_LEN)); then
    relocate_to_tmp "${datadir}" "the path is too long for a Unix socket"
    return 0
  fi
  if is_root; then
    chown postgres:postgres "${dir}" || die "cannot chown ${dir} to postgres"
  fi
  chmod 700 "${dir}" || die "cannot chmod ${dir}"
  if ! owner_can_use "${dir}"; then
    relocate_to_tmp "${datadir}" "user postgres cannot reach ${dir}"
    return 0
  fi
  echo "${dir}"
}

init_cluster() {
  local dir="$1" bindir="$2"
  if is_root; then
    chown postgres:postgres "${dir}" || die "cannot chown ${dir} to postgres"
  fi
  chmod 700 "${dir}"
  note "initialising a new cluster in ${dir}"
  local out
  if ! out="$(as_owner "${bindir}/initdb" -D "${dir}" --locale=C --encoding=UTF8 \
    --auth=trust --username="${SUPERUSER}" 2>&1)"; then
    echo "${out}" >&2
    die "initdb failed for ${dir} (output above)"
  fi
  # Settings that depend on the start arguments live in sonde-local.conf,
  # rewritten by every start.
  printf "\n# Added by local-postgres.sh\ninclude_if_exists = 'sonde-local.conf'\n" |
    as_owner tee -a "${dir}/postgresql.conf" >/dev/null ||
    die "cannot edit ${dir}/postgresql.conf"
}

write_local_conf() {
  local dir="$1" port="$2"
  as_owner tee "${dir}/sonde-local.conf" >/dev/null <<EOF
# Written by local-postgres.sh on every start; edits are lost.
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${dir}'
fsync = on
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

is_running() {
  local dir="$1" bindir="$2"
  [[ -f "${dir}/postmaster.pid" ]] || return 1
  as_owner "${bindir}/pg_ctl" status -D "${dir}" >/dev/null 2>&1
}

# The port a running cluster listens on (line 4 of postmaster.pid).
running_port() {
  sed -n 4p "$1/postmaster.pid" 2>/dev/null || true
}

conninfo() {
  echo "host=127.0.0.1 port=$1 user=${SUPERUSER} dbname=${DATABASE}"
}

cmd_start() {
  local datadir="$1" port="$2" bindir dir
  check_port "${port}"
  bindir="$(find_bindir)"
  ensure_postgres_user
  dir="$(prepare_dir "${datadir}")"
  [[ -f "${dir}/PG_VERSION" ]] || init_cluster "${dir}" "${bindir}"

  if is_running "${dir}" "${bindir}"; then
    local have
    have="$(running_port "${dir}")"
    if [[ "${have}" != "${port}" ]]; then
      die "the cluster in ${datadir} is already running on port ${have}, not ${port}; stop it first"
    fi
    note "already running on 127.0.0.1:${port}"
  else
    if [[ -f "${dir}/postmaster.pid" ]]; then
      note "removing the stale ${dir}/postmaster.pid (no server is running)"
      rm -f -- "${dir}/postmaster.pid"
    fi
    write_local_conf "${dir}" "${port}" || die "cannot write ${dir}/sonde-local.conf"
    as_owner mkdir -p "${dir}/log" || die "cannot create ${dir}/log"
    local log="${dir}/log/postgresql.log"
    if ! as_owner "${bindir}/pg_ctl" start -D "${dir}" -l "${log}" -w -t 60 >/dev/null 2>&1; then
      echo "--- last lines of ${log} ---" >&2
      tail -n 20 "${log}" >&2 2>/dev/null || true
      die "PostgreSQL did not start on 127.0.0.1:${port} (is the port in use? see ${log})"
    fi
  fi

  local i
  for ((i = 0; i < 100; i++)); do
    if "${bindir}/pg_isready" -q -h 127.0.0.1 -p "${port}" -U "${SUPERUSER}" -d postgres; then
      break
    fi
    sleep 0.1
  done
  ((i < 100)) || die "PostgreSQL on 127.0.0.1:${port} did not become ready within 10 s (see ${dir}/log)"

  local psql=("${bindir}/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port}" -U "${SUPERUSER}")
  local exists
  exists="$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'")" ||
    die "cannot query PostgreSQL on 127.0.0.1:${port} as ${SUPERUSER}"
  if [[ "${exists}" != "1" ]]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE ${DATABASE}" >/dev/null ||
      die "cannot create database ${DATABASE} on 127.0.0.1:${port}"
  fi
  conninfo "${port}"
}

cmd_stop() {
  local datadir="$1" bindir dir
  dir="$(real_dir "${datadir}")"
  if [[ -z "${dir}" || ! -f "${dir}/PG_VERSION" ]]; then
    note "no cluster in ${datadir}; nothing to stop"
    return 0
  fi
  bindir="$(find_bindir)"
  if ! is_running "${dir}" "${bindir}"; then
    note "not running"
    return 0
  fi
  as_owner "${bindir}/pg_ctl" stop -D "${dir}" -m fast -w -t 30 >/dev/null ||
    die "pg_ctl stop failed for ${dir} (see ${dir}/log)"
}

cmd_destroy() {
  local datadir="$1" dir
  cmd_stop "${datadir}"
  dir="$(real_dir "${datadir}")"
  if [[ -L "${datadir}" ]]; then
    rm -f -- "${datadir}"
  fi
  if [[ -n "${dir}" ]]; then
    rm -rf -- "${dir}" || die "cannot delete ${dir}"
  fi
}

main() {
  (($# >= 1)) || usage
  local cmd="$1"
  shift
  case "${cmd}" in
    start)
      (($# == 2)) || usage
      cmd_start "$1" "$2"
      ;;
    stop)
      (($# == 1)) || usage
      cmd_stop "$1"
      ;;
    url)
      (($# == 2)) || usage
      check_port "$2"
      conninfo "$2"
      ;;
    destroy)
      (($# == 1)) || usage
      cmd_destroy "$1"
      ;;
    -h | --help | help)
      usage 0
      ;;
    *)
      echo "${PROG}: unknown command \"${cmd}\"" >&2
      usage
      ;;
  esac
}

main "$@"
