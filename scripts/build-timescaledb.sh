#!/usr/bin/env bash
# build-timescaledb.sh -- install Debian's PostgreSQL 15 and build the
# Apache-2-licensed edition of TimescaleDB into it from Debian's *source*
# package.
#
# Target: a Debian 12 (bookworm) machine, run as root, whose only network
# access is the Debian mirrors.  bookworm ships no TimescaleDB package and the
# timescale.com apt repo is unreachable, so we fetch the source package from
# Debian trixie (13) and compile it against bookworm's postgresql-15.
#
# Idempotent: `make test` runs this every time.  When postgresql-15 is
# installed and the timescaledb extension (control file, loader + versioned
# .so, SQL script) is already present, it exits in ~0.1 s and needs no root.
#
# What it does (slow path only):
#   1. apt-get install postgresql-common, then set `create_main_cluster = false`
#      in /etc/postgresql-common/createcluster.conf BEFORE postgresql-15 is
#      installed, so the postinst does not create + start a "15/main" cluster
#      on port 5432 (the test-suite starts its own throw-away clusters and
#      wants 5432 free).  If postgresql-15 was already installed the file is
#      left alone.
#   2. apt-get install bookworm's postgresql-15, postgresql-server-dev-15 and
#      the build tools BY NAME.  We never run `apt-get build-dep` against
#      trixie, which would pull trixie binaries onto a bookworm system.
#   3. Fetch the trixie *source* package with a PRIVATE apt configuration that
#      lives under $BUILD_ROOT/apt (its own deb-src sources file derived from
#      /etc/apt/sources.list.d/debian.sources, its own lists/ and cache/).
#      The system's apt sources, package lists and caches are never touched,
#      so no later `apt-get upgrade` can drift anything to trixie; deb-src
#      entries only ever provide source packages anyway.
#   4. cmake -DAPACHE_ONLY=ON (TSL code is stripped from Debian's +dfsg
#      tarball anyway), telemetry compiled out, tests off; make; make install.
#   5. If a 15/main cluster exists and is running (e.g. it was created before
#      this script ran), stop it with `pg_ctlcluster 15 main stop` so port
#      5432 is free.  This is also done on the fast path.  It is NOT dropped.
#   6. Write a stamp (${PG_EXTDIR}/.tickflow-timescaledb-built-against) with
#      the postgresql-15 package version; if apt upgrades postgresql-15 later,
#      the next run rebuilds against the new headers.
#
# What the Apache edition gives you (verified with trixie's 2.19.3):
#   works:    CREATE EXTENSION (needs shared_preload_libraries=timescaledb),
#             create_hypertable (classic and by_range/by_hash API),
#             time_bucket, drop_chunks, show_chunks, first/last, histogram,
#             hypertable_*_size, set_chunk_time_interval, add_dimension.
#   refused with 'not supported under the current "apache" license':
#             compression (ALTER TABLE ... SET (timescaledb.compress),
#             compress_chunk, add_compression_policy), add_retention_policy
#             (the function exists, calling it errors), continuous aggregates,
#             time_bucket_gapfill, add_job/alter_job/delete_job.
#   log noise: the built-in job 3 "Job History Log Retention Policy" fails
#             once per run with that license error in the server log;
#             harmless (disable with
#             UPDATE _timescaledb_config.bgw_job SET scheduled=false WHERE id=3,
#             or start with -c timescaledb.max_background_workers=0).
#
# Environment overrides:
#   TICKFLOW_TSDB_BUILD_DIR   build directory  (default /var/tmp/tickflow-timescaledb)
#   TICKFLOW_TSDB_SUITE       Debian suite to take the source from (default trixie)
#   TICKFLOW_TSDB_JOBS        make -j value    (default: nproc)
#   TICKFLOW_TSDB_FORCE=1     rebuild even if already installed

set -Eeuo pipefail

PG_MAJOR=15
PG_BINDIR="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="${PG_BINDIR}/pg_config"
PG_LIBDIR="/usr/lib/postgresql/${PG_MAJOR}/lib"
PG_EXTDIR="/usr/share/postgresql/${PG_MAJOR}/extension"
CONTROL_FILE="${PG_EXTDIR}/timescaledb.control"
CREATECLUSTER_CONF=/etc/postgresql-common/createcluster.conf
# Records which postgresql-15 package version the extension was compiled
# against; if apt later upgrades postgresql-15, the next run rebuilds.
STAMP_FILE="${PG_EXTDIR}/.tickflow-timescaledb-built-against"

BUILD_ROOT="${TICKFLOW_TSDB_BUILD_DIR:-/var/tmp/tickflow-timescaledb}"
SRC_SUITE="${TICKFLOW_TSDB_SUITE:-trixie}"
JOBS="${TICKFLOW_TSDB_JOBS:-$(nproc 2>/dev/null || echo 2)}"
[ "${JOBS}" -ge 1 ] 2>/dev/null || JOBS=2

export DEBIAN_FRONTEND=noninteractive
# Keep locally modified conffiles (createcluster.conf is ucf-managed).
export UCF_FORCE_CONFFOLD=1
APT_INSTALL=(apt-get install -y --no-install-recommends
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

log()  { printf '==> [build-timescaledb] %s\n' "$*" >&2; }
warn() { printf '!!! [build-timescaledb] WARNING: %s\n' "$*" >&2; }
die()  { printf '!!! [build-timescaledb] ERROR: %s\n' "$*" >&2; exit 1; }
on_err() {
    local rc=$? line=$1 cmd=$2
    printf '!!! [build-timescaledb] FAILED (exit %s) at line %s: %s\n' "$rc" "$line" "$cmd" >&2
    printf '!!! [build-timescaledb] build directory: %s\n' "$BUILD_ROOT" >&2
    exit "$rc"
}
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# Prints the installed extension version and returns 0 when the extension is
# fully installed: control file, loader .so and the versioned .so + SQL script.
installed_tsdb_version() {
    [ -f "$CONTROL_FILE" ] || return 1
    local ver
    ver=$(sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$CONTROL_FILE" | head -n1)
    [ -n "$ver" ] || return 1
    [ -f "${PG_LIBDIR}/timescaledb.so" ] || return 1
    [ -f "${PG_LIBDIR}/timescaledb-${ver}.so" ] || return 1
    [ -f "${PG_EXTDIR}/timescaledb--${ver}.sql" ] || return 1
    printf '%s\n' "$ver"
}

# Stop a running 15/main cluster (created by postgresql-15's postinst on
# machines where it was installed before this script ran) so that port 5432
# is free for the test-suite.  The cluster itself is left in place.
stop_main_cluster() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 0
    local status
    status=$(pg_lsclusters --no-header 2>/dev/null \
        | awk -v v="$PG_MAJOR" '$1==v && $2=="main" {print $4}' || true)
    case "$status" in
        online*)
            log "stopping running PostgreSQL ${PG_MAJOR}/main cluster so port 5432 is free"
            pg_ctlcluster "$PG_MAJOR" main stop \
                || die "could not stop cluster ${PG_MAJOR}/main (pg_ctlcluster ${PG_MAJOR} main stop)"
            ;;
    esac
}

# ---------------------------------------------------------------------------
# Fast path
# ---------------------------------------------------------------------------
pg_pkg_version() { dpkg-query -W -f='${Version}' "postgresql-${PG_MAJOR}" 2>/dev/null || true; }

# True when postgresql-15 is installed, the extension is complete and (if we
# built it) it was built against the postgresql-15 version installed now.
already_done() {
    [ "${TICKFLOW_TSDB_FORCE:-0}" != 1 ] || return 1
    pkg_installed "postgresql-${PG_MAJOR}" || return 1
    ver=$(installed_tsdb_version) || return 1
    if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" != "$(pg_pkg_version)" ]; then
        [ -n "${_stale_logged:-}" ] || log "postgresql-${PG_MAJOR} is now $(pg_pkg_version) but TimescaleDB was built against $(cat "$STAMP_FILE"); rebuilding"
        _stale_logged=1
        return 1
    fi
}

if already_done; then
    stop_main_cluster
    log "TimescaleDB ${ver} already installed for PostgreSQL ${PG_MAJOR}; nothing to do"
    exit 0
fi

# ---------------------------------------------------------------------------
# Slow path
# ---------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "TimescaleDB for PostgreSQL ${PG_MAJOR} is missing or stale and building it needs root (apt-get + make install): run 'sudo bash $0' once"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script targets Debian 12 (bookworm)"

codename=$( . /etc/os-release 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}" ) || codename=
if [ "$codename" != bookworm ]; then
    warn "expected Debian 12 (bookworm), found '${codename:-unknown}'; continuing anyway"
fi
codename=${codename:-bookworm}

start_ts=$(date +%s)

# Serialise concurrent runs (e.g. two `make test` at once), then re-check.
mkdir -p "$BUILD_ROOT"
exec 9>"${BUILD_ROOT}/.lock"
if ! flock -n 9; then
    log "another build-timescaledb.sh run holds ${BUILD_ROOT}/.lock; waiting for it"
    flock 9
fi
if already_done; then
    stop_main_cluster
    log "TimescaleDB ${ver} was installed by a concurrent run; nothing to do"
    exit 0
fi

# -- 1. system package lists --------------------------------------------------
log "step 1/7: apt-get update (system sources, ${codename})"
apt-get update -q || die "apt-get update failed; check network access to the Debian mirror"

# -- 2. no auto-created main cluster -----------------------------------------
if ! pkg_installed "postgresql-${PG_MAJOR}"; then
    log "step 2/7: installing postgresql-common and disabling automatic 'main' cluster creation"
    "${APT_INSTALL[@]}" postgresql-common
    [ -f "$CREATECLUSTER_CONF" ] || die "$CREATECLUSTER_CONF missing after installing postgresql-common"
    if grep -Eq '^[[:space:]]*#?[[:space:]]*create_main_cluster[[:space:]]*=' "$CREATECLUSTER_CONF"; then
        sed -i -E 's/^[[:space:]]*#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' "$CREATECLUSTER_CONF"
    else
        printf '\n# tickflow: do not create/start a default cluster on port 5432\ncreate_main_cluster = false\n' >> "$CREATECLUSTER_CONF"
    fi
    log "  $CREATECLUSTER_CONF: $(grep -E '^create_main_cluster' "$CREATECLUSTER_CONF")"
else
    log "step 2/7: postgresql-${PG_MAJOR} already installed; leaving $CREATECLUSTER_CONF alone"
fi

# -- 3. bookworm binaries + build tools, by name -----------------------------
# postgresql-15 and its server headers are always named together so they end
# up at the same (current bookworm/-security) minor version: PostgreSQL minor
# releases have broken extension ABI before (the November 2024 round did),
# so an extension must be compiled against the headers of the server it runs in.
# debian-archive-keyring is always brought up to date: the trixie signing keys
# were added by a bookworm stable update of the package.  Other tools are only installed
# when missing (no gratuitous upgrades of a machine's existing packages).
BUILD_PKGS=("postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" debian-archive-keyring)
for p in cmake make gcc libc6-dev build-essential libssl-dev libkrb5-dev \
         dpkg-dev xz-utils; do
    pkg_installed "$p" || BUILD_PKGS+=("$p")
done
log "step 3/7: installing ${codename} packages: ${BUILD_PKGS[*]}"
"${APT_INSTALL[@]}" "${BUILD_PKGS[@]}"
[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found after installing postgresql-server-dev-${PG_MAJOR}"
stop_main_cluster

# -- 4. private deb-src config for the source suite -------------------------
APT_DIR="${BUILD_ROOT}/apt"
SRC_PARTS="${APT_DIR}/sources.list.d"
SRC_FILE="${SRC_PARTS}/tickflow-${SRC_SUITE}-src.sources"

# Take URIs (and Signed-By) from the stanza of the system's deb822 sources that
# carries the plain release suite (not -updates / -security).
uris=
signed_by=
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    read -r uris signed_by < <(awk -v suite="$codename" '
        function flush() {
            if (types ~ /(^|[ \t])deb([ \t]|$)/ && (" " suites " ") ~ (" " suite " ") && uris != "" && found == "") {
                found = uris; fsb = sb
            }
            types = suites = uris = sb = ""
        }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]*#/ { next }
        /^Types:/      { sub(/^Types:[ \t]*/, "");      types = $0;  next }
        /^Suites:/     { sub(/^Suites:[ \t]*/, "");     suites = $0; next }
        /^URIs:/       { sub(/^URIs:[ \t]*/, "");       uris = $0;   next }
        /^Signed-By:/  { sub(/^Signed-By:[ \t]*/, "");  sb = $0;     next }
        END {
            flush()
            gsub(/[ \t]+/, ",", found)
            if (fsb !~ /^\//) fsb = ""      # only a keyring path, not an inline key
            if (found != "") print found, fsb
        }' /etc/apt/sources.list.d/debian.sources) || true
    uris=${uris//,/ }
fi
if [ -z "$uris" ] && [ -f /etc/apt/sources.list ]; then
    # one-line format: deb [opts] URI SUITE COMPONENTS...
    uris=$(awk -v suite="$codename" '
        $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                      if ($(i+1) == suite) print $i }' /etc/apt/sources.list | sort -u | tr '\n' ' ')
    uris=${uris% }
fi
if [ -z "$uris" ]; then
    uris=http://deb.debian.org/debian
    warn "could not derive a Debian mirror from the system apt sources; using $uris"
fi
if [ -z "$signed_by" ] && [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    signed_by=/usr/share/keyrings/debian-archive-keyring.gpg
fi

log "step 4/7: fetching ${SRC_SUITE} source index (deb-src ${uris} ${SRC_SUITE} main) into ${APT_DIR}"
mkdir -p "$SRC_PARTS" "${APT_DIR}/lists/partial" "${APT_DIR}/cache/archives/partial"
{
    echo "# Written by tickflow scripts/build-timescaledb.sh -- private apt config,"
    echo "# used only for 'apt-get source timescaledb'; not seen by the system's apt."
    echo "Types: deb-src"
    echo "URIs: ${uris}"
    echo "Suites: ${SRC_SUITE}"
    echo "Components: main"
    if [ -n "$signed_by" ]; then echo "Signed-By: ${signed_by}"; fi
} > "$SRC_FILE"
APT_PRIVATE=(
    -o "Dir::Etc::SourceList=${APT_DIR}/sources.list"     # intentionally absent
    -o "Dir::Etc::SourceParts=${SRC_PARTS}"
    -o "Dir::State::Lists=${APT_DIR}/lists"
    -o "Dir::Cache=${APT_DIR}/cache"
)
apt-get "${APT_PRIVATE[@]}" update -q \
    || die "apt-get update for the ${SRC_SUITE} deb-src entry failed (mirror reachable? debian-archive-keyring new enough to verify ${SRC_SUITE}?)"

# -- 5. source package --------------------------------------------------------
SRC_PARENT="${BUILD_ROOT}/src"
log "step 5/7: apt-get source timescaledb/${SRC_SUITE} into ${SRC_PARENT}"
rm -rf "$SRC_PARENT"
mkdir -p "$SRC_PARENT"
# let apt's sandbox user write the downloads (avoids the "unsandboxed" warning)
chown _apt "$SRC_PARENT" 2>/dev/null || true
( cd "$SRC_PARENT" && apt-get "${APT_PRIVATE[@]}" source -q "timescaledb/${SRC_SUITE}" ) \
    || die "apt-get source timescaledb/${SRC_SUITE} failed"
shopt -s nullglob
src_dirs=("$SRC_PARENT"/timescaledb-*/)
shopt -u nullglob
[ "${#src_dirs[@]}" -eq 1 ] || die "expected exactly one unpacked timescaledb-* directory in $SRC_PARENT, found ${#src_dirs[@]}"
SRC_DIR=${src_dirs[0]%/}
[ -f "$SRC_DIR/CMakeLists.txt" ] || die "$SRC_DIR/CMakeLists.txt missing; unpacking failed?"
log "  source: $(basename "$SRC_DIR") ($(ls "$SRC_PARENT"/*.dsc 2>/dev/null | xargs -r -n1 basename))"

# -- 6. configure + build ------------------------------------------------------
BUILD_DIR="${SRC_DIR}/build-pg${PG_MAJOR}"
log "step 6/7: cmake + make -j${JOBS} (APACHE_ONLY, against $("$PG_CONFIG" --version))"
# Flags mirror debian/rules (APACHE_ONLY, telemetry compiled out) plus: no
# regression/TAP test targets, warnings are not errors.
cmake -S "$SRC_DIR" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPG_CONFIG="$PG_CONFIG" \
    -DAPACHE_ONLY=ON \
    -DUSE_TELEMETRY=OFF \
    -DSEND_TELEMETRY_DEFAULT=OFF \
    -DREGRESS_CHECKS=OFF \
    -DTAP_CHECKS=OFF \
    -DWARNINGS_AS_ERRORS=OFF \
    || die "cmake configure failed (see output above)"
make -C "$BUILD_DIR" -j"$JOBS" || die "make failed (see output above)"

# -- 7. install ---------------------------------------------------------------
log "step 7/7: make install"
make -C "$BUILD_DIR" install || die "make install failed"

ver=$(installed_tsdb_version) \
    || die "make install finished but timescaledb control file / .so files are missing under ${PG_EXTDIR} and ${PG_LIBDIR}"
pg_pkg_version > "$STAMP_FILE"
stop_main_cluster
log "done: TimescaleDB ${ver} (Apache-2 edition) installed for PostgreSQL ${PG_MAJOR} in $(( $(date +%s) - start_ts ))s"
log "  load it with: shared_preload_libraries = 'timescaledb'"
