#!/usr/bin/env bash
# EMR bootstrap action of ddbpipe: runs on every node before the applications are installed.
#
#   install-ddbpipe.sh --wheelhouse s3://BUCKET/.../wheelhouse/ --arch x86_64|aarch64 \
#                      [--python /usr/bin/python3.11] [--connector-jar s3://BUCKET/.../x.jar]
#
# Installs ddbpipe and its pinned dependencies into the Python that Spark runs
# (spark.pyspark.python in the steps) from the staged wheelhouse only: SHA256SUMS lists every file
# (the ddbpipe wheel, a wheel of each pin, a pip wheel, requirements.txt with NAME==VERSION lines);
# each is fetched from S3 and checked, and pip runs with --no-index. Nothing but S3 (and the
# instance metadata service) is reached: no package index, no dnf, so a node in a private subnet
# with only an S3 gateway endpoint installs as well as one with internet access. A Python without
# pip gets pip from the staged pip wheel.
# The connector: EMR installs its emr-dynamodb-connector (component emr-ddb) with Spark, after the
# bootstrap actions, at /usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar, and every step puts that jar
# on the driver and executor classpath with --jars. --connector-jar stages another build at
# /opt/ddbpipe/lib/emr-ddb-hadoop.jar instead (the steps then name that path).
#
# Idempotent: run again with the same wheelhouse it fetches SHA256SUMS and installs nothing.
# Instance metadata is read with IMDSv2 only (a session token on every request).
# For tests, and for nothing else: DDBPIPE_ROOT (default: /) maps the node's paths (the Python,
# /opt/ddbpipe, /var/lib/ddbpipe) into a folder, which is then written without sudo;
# DDBPIPE_IMDS_URL replaces the metadata service's address.
set -euo pipefail

ROOT="${DDBPIPE_ROOT:-}"
IMDS="${DDBPIPE_IMDS_URL:-http://169.254.169.254}"
EMR_CONNECTOR_JAR="/usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar"
STAGED_CONNECTOR_JAR="/opt/ddbpipe/lib/emr-ddb-hadoop.jar"
HOME_DIR="$ROOT/opt/ddbpipe"
STATE_DIR="$ROOT/var/lib/ddbpipe"

python="/usr/bin/python3.11"
wheelhouse=""
arch=""
connector_jar=""

log() { printf '%s ddbpipe-bootstrap: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '3,4p' "$0" | sed 's/^# \{0,1\}//'
}

while [ "$#" -gt 0 ]; do
    case "$1" in
        --wheelhouse) wheelhouse="${2:?--wheelhouse needs an s3:// folder}"; shift 2 ;;
        --arch) arch="${2:?--arch needs x86_64 or aarch64}"; shift 2 ;;
        --python) python="${2:?--python needs a path}"; shift 2 ;;
        --connector-jar) connector_jar="${2:?--connector-jar needs an s3:// URI}"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

[ -n "$wheelhouse" ] || die "--wheelhouse is required"
[ -n "$arch" ] || die "--arch is required"
case "$wheelhouse" in s3://*/) ;; *) die "--wheelhouse must be an s3:// folder ending in /, not $wheelhouse" ;; esac
case "$arch" in x86_64 | aarch64) ;; *) die "--arch must be x86_64 or aarch64, not $arch" ;; esac
case "$python" in /*) ;; *) die "--python must be an absolute path, not $python" ;; esac
case "$connector_jar" in "" | s3://*.jar) ;; *) die "--connector-jar must be the s3:// URI of a .jar" ;; esac

machine="$(uname -m)"
[ "$machine" = "$arch" ] || die "the wheelhouse was built for $arch but this node is $machine" \
    "(ddbpipe picks the architecture from --instance-type; leader and core must match)"

# EMR runs bootstrap actions as the hadoop user, which may sudo. Under DDBPIPE_ROOT every path
# written is inside that folder, which belongs to whoever runs the script.
SUDO=()
if [ "$(id -u)" -ne 0 ] && [ -z "$ROOT" ]; then
    SUDO=(sudo)
fi
PY="$ROOT$python"
# -I: isolated mode, so neither PYTHON* variables nor the current folder decide what is imported.
PYI=("$PY" -I)

imds_token() {
    curl -sS --fail --max-time 5 --retry 3 -X PUT "$IMDS/latest/api/token" \
        -H "X-aws-ec2-metadata-token-ttl-seconds: 300"
}

imds_get() {
    curl -sS --fail --max-time 5 --retry 3 -H "X-aws-ec2-metadata-token: $1" "$IMDS/latest/$2"
}

token="$(imds_token)" || die "no IMDSv2 token from $IMDS (is the metadata service reachable?)"
region="$(imds_get "$token" meta-data/placement/region)" || die "cannot read the region from IMDS"
instance_id="$(imds_get "$token" meta-data/instance-id)" || die "cannot read the instance id"
log "node $instance_id ($machine) in $region: installing ddbpipe from $wheelhouse"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
house="$work/wheelhouse"
mkdir -p "$house"

fetch() { # s3-uri local-path
    aws s3 cp --only-show-errors --region "$region" "$1" "$2" || die "cannot download $1"
}

fetch "${wheelhouse}SHA256SUMS" "$house/SHA256SUMS"
# Every line "<sha256>  <file name>"; a name is a wheel or requirements.txt, never a path.
if grep -Evq '^[0-9a-f]{64}  ([A-Za-z0-9._+-]+\.whl|requirements\.txt)$' "$house/SHA256SUMS"; then
    die "${wheelhouse}SHA256SUMS has a line that is not '<sha256>  <wheel or requirements.txt>'"
fi
files=()
while read -r _ name; do files+=("$name"); done <"$house/SHA256SUMS"
count_of() { printf '%s\n' "${files[@]}" | grep -Ec "$1" || true; }
[ "$(count_of '^ddbpipe-[^-]+-.*\.whl$')" = 1 ] || die "the wheelhouse must hold one ddbpipe wheel"
[ "$(count_of '^pip-[^-]+-.*\.whl$')" = 1 ] || die "the wheelhouse must hold one pip wheel"
[ "$(count_of '^requirements\.txt$')" = 1 ] || die "the wheelhouse must hold requirements.txt"

digested=("$house/SHA256SUMS")
if [ -n "$connector_jar" ]; then
    fetch "$connector_jar" "$work/emr-ddb-hadoop.jar"
    digested+=("$work/emr-ddb-hadoop.jar")
fi
digest="$(printf '%s\n' "$python" | cat - "${digested[@]}" | sha256sum | cut -d ' ' -f 1)"
marker="$STATE_DIR/installed.sha256"

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$digest" ] \
    && "${PYI[@]}" -c 'import ddbpipe' >/dev/null 2>&1; then
    log "ddbpipe is already installed from this wheelhouse; nothing to do"
else
    [ -x "$PY" ] || die "$python is missing on this node; EMR 7.x releases have it" \
        "(pick one with --release-label)"
    for name in "${files[@]}"; do
        fetch "$wheelhouse$name" "$house/$name"
    done
    (cd "$house" && sha256sum --check --quiet --strict SHA256SUMS) >&2 \
        || die "a file of $wheelhouse does not match its SHA256SUMS line (staged twice at once?)"
    if grep -Evq '^([A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+|#.*)?$' "$house/requirements.txt"; then
        die "requirements.txt must pin every package as NAME==VERSION, one a line"
    fi
    pip_wheel="$(printf '%s\n' "${files[@]}" | grep -E '^pip-[^-]+-.*\.whl$')"
    ddbpipe_wheel="$(printf '%s\n' "${files[@]}" | grep -E '^ddbpipe-[^-]+-.*\.whl$')"
    pip_opts=(--no-input --disable-pip-version-check --no-cache-dir --no-index
              --find-links "$house")

    if ! "${PYI[@]}" -m pip --version >/dev/null 2>&1; then
        # pip runs from its own wheel (a zip on sys.path) to install itself.
        log "$python has no pip; installing $pip_wheel from the wheelhouse"
        "${SUDO[@]}" "${PYI[@]}" "$house/$pip_wheel/pip" install "${pip_opts[@]}" "$house/$pip_wheel"
    fi
    "${SUDO[@]}" "${PYI[@]}" -m pip install "${pip_opts[@]}" --requirement "$house/requirements.txt"
    # Same version number, new build: --force-reinstall replaces the files; --no-deps keeps the pins.
    "${SUDO[@]}" "${PYI[@]}" -m pip install "${pip_opts[@]}" --no-deps --force-reinstall \
        "$house/$ddbpipe_wheel"
    version="$("${PYI[@]}" -c 'import ddbpipe; print(ddbpipe.__version__)')" \
        || die "ddbpipe does not import after the install"
    if [ -n "$connector_jar" ]; then
        "${SUDO[@]}" mkdir -p "$HOME_DIR/lib"
        "${SUDO[@]}" install -m 0644 "$work/emr-ddb-hadoop.jar" "$ROOT$STAGED_CONNECTOR_JAR"
    fi
    # The wheelhouse stays on the node: a reinstall by hand needs no network either.
    "${SUDO[@]}" mkdir -p "$HOME_DIR/wheelhouse" "$STATE_DIR"
    "${SUDO[@]}" install -m 0644 "$house"/* "$HOME_DIR/wheelhouse/"
    printf '%s\n' "$digest" | "${SUDO[@]}" tee "$marker" >/dev/null
    log "installed ddbpipe $version for $python from ${#files[@]} staged files"
fi

if [ -n "$connector_jar" ]; then
    log "connector: $connector_jar staged at $STAGED_CONNECTOR_JAR (the steps pass it with --jars)"
elif [ -f "$ROOT$EMR_CONNECTOR_JAR" ]; then
    log "connector: $EMR_CONNECTOR_JAR is present (the steps pass it with --jars)"
else
    log "connector: EMR installs $EMR_CONNECTOR_JAR with Spark after the bootstrap actions;" \
        "the steps pass it with --jars"
fi
