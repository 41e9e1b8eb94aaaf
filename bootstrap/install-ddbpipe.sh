#!/usr/bin/env bash
# EMR bootstrap action of ddbpipe: runs on every node before the applications are installed.
#
#   install-ddbpipe.sh --wheel s3://BUCKET/.../ddbpipe-VERSION-py3-none-any.whl \
#                      --requirements s3://BUCKET/.../requirements.txt \
#                      [--python /usr/bin/python3.11] [--connector-jar s3://BUCKET/.../x.jar]
#
# Installs the ddbpipe wheel built from the checkout and its pinned dependencies (requirements.txt,
# every line NAME==VERSION) into the Python that Spark runs (spark.pyspark.python in the steps).
# The connector: EMR installs its emr-dynamodb-connector (component emr-ddb) with Spark, after the
# bootstrap actions, at /usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar, and every step puts that jar
# on the driver and executor classpath with --jars. --connector-jar stages another build at
# /opt/ddbpipe/lib/emr-ddb-hadoop.jar instead (the steps then name that path).
#
# Idempotent: run again with the same files it installs nothing. Instance metadata is read with
# IMDSv2 only (a session token on every request). DDBPIPE_ROOT (default: /) lets the tests run it
# in a temporary root with the install commands stubbed; DDBPIPE_IMDS_URL likewise.
set -euo pipefail

ROOT="${DDBPIPE_ROOT:-}"
IMDS="${DDBPIPE_IMDS_URL:-http://169.254.169.254}"
EMR_CONNECTOR_JAR="/usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar"
STAGED_CONNECTOR_JAR="/opt/ddbpipe/lib/emr-ddb-hadoop.jar"
HOME_DIR="$ROOT/opt/ddbpipe"
STATE_DIR="$ROOT/var/lib/ddbpipe"
PIP_OPTS=(--no-input --disable-pip-version-check)

python="/usr/bin/python3.11"
wheel=""
requirements=""
connector_jar=""

log() { printf '%s ddbpipe-bootstrap: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '3,6p' "$0" | sed 's/^# \{0,1\}//'
}

while [ "$#" -gt 0 ]; do
    case "$1" in
        --wheel) wheel="${2:?--wheel needs an s3:// URI}"; shift 2 ;;
        --requirements) requirements="${2:?--requirements needs an s3:// URI}"; shift 2 ;;
        --python) python="${2:?--python needs a path}"; shift 2 ;;
        --connector-jar) connector_jar="${2:?--connector-jar needs an s3:// URI}"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

[ -n "$wheel" ] || die "--wheel is required"
[ -n "$requirements" ] || die "--requirements is required"
case "$wheel" in s3://*.whl) ;; *) die "--wheel must be the s3:// URI of a .whl file, not $wheel" ;; esac
case "$requirements" in s3://*) ;; *) die "--requirements must be an s3:// URI, not $requirements" ;; esac
case "$connector_jar" in "" | s3://*.jar) ;; *) die "--connector-jar must be the s3:// URI of a .jar" ;; esac

# EMR runs bootstrap actions as the hadoop user, which may sudo; the tests run as whoever they are.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi

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
log "node $instance_id in $region: installing ddbpipe from $wheel"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() { # s3-uri local-path
    aws s3 cp --only-show-errors --region "$region" "$1" "$2" || die "cannot download $1"
}

wheel_file="$work/${wheel##*/}"
fetch "$wheel" "$wheel_file"
fetch "$requirements" "$work/requirements.txt"
if [ -n "$connector_jar" ]; then
    fetch "$connector_jar" "$work/emr-ddb-hadoop.jar"
fi

if grep -Evq '^([A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+|#.*)?$' "$work/requirements.txt"; then
    die "requirements.txt must pin every package as NAME==VERSION, one a line"
fi

digest="$(cat "$work"/* | sha256sum | cut -d ' ' -f 1)"
marker="$STATE_DIR/installed.sha256"

ensure_python() {
    if [ -x "$python" ] || command -v "$python" >/dev/null 2>&1; then
        return 0
    fi
    log "$python is missing; installing ${python##*/}"
    "${SUDO[@]}" dnf install -y "${python##*/}"
}

ensure_pip() {
    if "$python" -m pip --version >/dev/null 2>&1; then
        return 0
    fi
    log "pip is missing for $python; installing ${python##*/}-pip"
    "${SUDO[@]}" dnf install -y "${python##*/}-pip"
}

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$digest" ] \
    && "$python" -c 'import ddbpipe' >/dev/null 2>&1; then
    log "ddbpipe is already installed from these files; nothing to do"
else
    ensure_python
    ensure_pip
    "${SUDO[@]}" "$python" -m pip install "${PIP_OPTS[@]}" --requirement "$work/requirements.txt"
    # Same version number, new build: --force-reinstall replaces the files; --no-deps keeps the pins.
    "${SUDO[@]}" "$python" -m pip install "${PIP_OPTS[@]}" --no-deps --force-reinstall "$wheel_file"
    version="$("$python" -c 'import ddbpipe; print(ddbpipe.__version__)')" \
        || die "ddbpipe does not import after the install"
    "${SUDO[@]}" mkdir -p "$HOME_DIR/dist" "$STATE_DIR"
    "${SUDO[@]}" install -m 0644 "$wheel_file" "$work/requirements.txt" "$HOME_DIR/dist/"
    if [ -n "$connector_jar" ]; then
        "${SUDO[@]}" mkdir -p "$HOME_DIR/lib"
        "${SUDO[@]}" install -m 0644 "$work/emr-ddb-hadoop.jar" "$ROOT$STAGED_CONNECTOR_JAR"
    fi
    printf '%s\n' "$digest" | "${SUDO[@]}" tee "$marker" >/dev/null
    log "installed ddbpipe $version for $python"
fi

if [ -n "$connector_jar" ]; then
    log "connector: $connector_jar staged at $STAGED_CONNECTOR_JAR (the steps pass it with --jars)"
elif [ -f "$ROOT$EMR_CONNECTOR_JAR" ]; then
    log "connector: $EMR_CONNECTOR_JAR is present (the steps pass it with --jars)"
else
    log "connector: EMR installs $EMR_CONNECTOR_JAR with Spark after the bootstrap actions;" \
        "the steps pass it with --jars"
fi
