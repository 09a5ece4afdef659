#!/usr/bin/env bash
# Downloads WebVision 2.0 (2018, 5,000 classes) or 1.0 (2017, the 1,000 ILSVRC classes, its
# 256-pixel "resized" release) into DEST and prepares it (utils/preprocess.py).
#
#   utils/download.sh [--version 2.0|1.0] [--dest DIR] [--no-prepare] [--no-flickr]
#
# 2.0: webvision_train_00..32.tar, info.tar, val_images_resized.tar, val_filelist.txt,
#      test_images_resized.tar, test_filelist.txt
# 1.0: info.tar, google_resized_256.tar, flickr_resized_256.tar, val_images_256.tar,
#      test_images_256.tar; --no-flickr leaves out the Flickr images (mini-WebVision needs only
#      the Google ones: utils/preprocess.py --subset mini)
#
# Resumes partial files (curl -C -; a mirror that ignores HTTP Range gets the file again from
# zero), retries with back-off (the server reboots every midnight, Zurich time), skips files
# already complete (DEST/.done/NAME), checks free disk space first, and extracts each archive with
# utils/safe_extract.py: whole archives only, regular files and folders only (no links, devices,
# FIFOs; no owners or permission bits restored), nothing outside DEST. Deletes each archive once
# extracted. Nothing a mirror sends is trusted: sizes must be plain decimal numbers.
#
# Environment: WEBVISION_MIRROR   base address serving every file (default: the official server)
#              WEBVISION_RETRIES  attempts per file (default 8); WEBVISION_RETRY_WAIT first
#                                 wait in seconds, doubled each time (default 30, at most 1 hour)
#              WEBVISION_TRAIN_ARCHIVES  how many 2.0 train archives (default 33: _00 .. _32)
#              PYTHON             interpreter for extraction and preparation (default: python3)
set -euo pipefail

die() {  # die MESSAGE: the one way this script fails on bad input
    echo "error: $*" >&2
    exit 1
}

# is_count NAME VALUE MAX_DIGITS: VALUE must be a plain decimal number (nothing from outside
# reaches shell arithmetic otherwise: "0*x[$(cmd)]" would run cmd).
is_count() {
    [[ "$2" =~ ^[0-9]{1,$3}$ ]] || die "$1 must be a whole number of at most $3 digits, got '$2'"
}

dest=.
prepare=1
version=2.0
flickr=1
while [ $# -gt 0 ]; do
    case "$1" in
        --dest) dest="${2:?--dest needs a folder}"; shift 2 ;;
        --version) version="${2:?--version needs 2.0 or 1.0}"; shift 2 ;;
        --no-prepare) prepare=0; shift ;;
        --no-flickr) flickr=0; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (expected --version 2.0|1.0, --dest DIR, --no-prepare or --no-flickr)" >&2; exit 2 ;;
    esac
done
case "$version" in
    2.0|1.0) ;;
    *) echo "--version: expected 2.0 or 1.0, got '$version'" >&2; exit 2 ;;
esac
if [ "$version" = 2.0 ] && [ "$flickr" -eq 0 ]; then
    echo "--no-flickr: only for --version 1.0 (2.0's train archives hold both crawls)" >&2
    exit 2
fi

here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
train_base="${WEBVISION_MIRROR:-https://data.vision.ee.ethz.ch/aeirikur/webvision2018}"
other_base="${WEBVISION_MIRROR:-https://data.vision.ee.ethz.ch/cvl/webvision2018}"
v1_base="${WEBVISION_MIRROR:-https://data.vision.ee.ethz.ch/cvl/webvision}"
retries="${WEBVISION_RETRIES:-8}"
wait_s="${WEBVISION_RETRY_WAIT:-30}"
n_train="${WEBVISION_TRAIN_ARCHIVES:-33}"
is_count WEBVISION_RETRIES "$retries" 4
is_count WEBVISION_RETRY_WAIT "$wait_s" 5
is_count WEBVISION_TRAIN_ARCHIVES "$n_train" 3
retries=$((10#$retries)) wait_s=$((10#$wait_s)) n_train=$((10#$n_train))

mkdir -p "$dest/.done" "$dest/.partial"

files=()
if [ "$version" = 2.0 ]; then
    for ((i = 0; i < n_train; i++)); do
        files+=("$train_base/$(printf 'webvision_train_%02d.tar' "$i")")
    done
    for f in info.tar val_images_resized.tar val_filelist.txt test_images_resized.tar test_filelist.txt; do
        files+=("$other_base/$f")
    done
else
    for f in info.tar google_resized_256.tar flickr_resized_256.tar val_images_256.tar test_images_256.tar; do
        [ "$f" = flickr_resized_256.tar ] && [ "$flickr" -eq 0 ] && continue
        files+=("$v1_base/$f")
    done
fi

with_retries() {  # with_retries DESCRIPTION COMMAND...: runs COMMAND until it succeeds
    local what="$1" attempt=1 pause="$wait_s"
    shift
    until "$@"; do
        if [ "$attempt" -ge "$retries" ]; then
            echo "giving up on $what after $attempt attempts" >&2
            return 1
        fi
        echo "$what failed (attempt $attempt of $retries); retrying in ${pause}s" >&2
        sleep "$pause"
        attempt=$((attempt + 1))
        pause=$((pause * 2 > 3600 ? 3600 : pause * 2))
    done
}

size=""
ask_size() {  # ask_size URL: sets $size to the server's Content-Length; fails if it gives none
    size="$(curl -fsSLI "$1" | tr -d '\r' | awk 'tolower($1) == "content-length:" {
        n = $0; sub(/^[^:]*:[ \t]*/, "", n); sub(/[ \t]+$/, "", n) } END { print n }')"
    [ -n "$size" ]
}

# Free space: what is left to fetch, twice (the archive and what it extracts to).
declare -A sizes
need=0
for url in "${files[@]}"; do
    name="$(basename "$url")"
    [ -e "$dest/.done/$name" ] && continue
    with_retries "asking the size of $name" ask_size "$url" || exit 1
    is_count "the Content-Length of $url" "$size" 18
    size=$((10#$size))
    sizes[$name]="$size"
    have=0
    [ -f "$dest/.partial/$name" ] && have="$(stat -c %s "$dest/.partial/$name")"
    [ "$have" -gt "$size" ] && have=0      # larger than the file: it is downloaded again
    need=$((need + 2 * (size - have)))
done
avail="$(df -P -B1 "$dest" | awk 'NR == 2 { print $4 }')"
is_count "the free space df reports for $dest" "$avail" 20
if [ "$need" -gt "$avail" ]; then
    echo "not enough disk space in $dest: need $need bytes, $avail available" >&2
    exit 1
fi

download_once() {  # download_once URL PART: one attempt, resuming PART when the server allows it
    local url="$1" part="$2" rc=0
    curl -fL --silent --show-error -C - -o "$part" "$url" || rc=$?
    if [ "$rc" -eq 33 ]; then     # curl: "HTTP server doesn't seem to support byte ranges"
        echo "$(basename "$part"): the server does not support resuming (no HTTP Range);" \
             "downloading it again from the start" >&2
        rm -f "$part"
        rc=0
        curl -fL --silent --show-error -o "$part" "$url" || rc=$?
    fi
    return "$rc"
}

fetch() {  # called as "fetch || ...", where set -e does not apply: every step checks itself
    local url="$1" name part size got
    name="$(basename "$url")"
    part="$dest/.partial/$name"
    size="${sizes[$name]}"
    got=0
    [ -f "$part" ] && got="$(stat -c %s "$part")"
    if [ "$got" -gt "$size" ]; then
        echo "$name: the partial file is larger than the $size bytes announced; downloading it again" >&2
        rm -f "$part"
        got=0
    fi
    if [ "$got" -lt "$size" ]; then
        echo "downloading $name ($size bytes${got:+, $got already here})"
        with_retries "downloading $name" download_once "$url" "$part" || return 1
    fi
    got="$(stat -c %s "$part")"
    if [ "$got" -ne "$size" ]; then
        echo "$name: $got bytes, expected $size; removed it (the next run downloads it again)" >&2
        rm -f "$part"
        return 1
    fi
    case "$name" in
        *.tar)
            if ! "$python" "$here/safe_extract.py" "$part" "$dest"; then
                echo "$name: refused (see above); removed it (the next run downloads it again)" >&2
                rm -f "$part"
                return 1
            fi
            rm -f "$part" ;;
        *)
            mv -f "$part" "$dest/$name" || return 1 ;;
    esac
    touch "$dest/.done/$name"
}

failed=0
for url in "${files[@]}"; do
    name="$(basename "$url")"
    if [ -e "$dest/.done/$name" ]; then
        echo "$name: already complete"
        continue
    fi
    fetch "$url" || failed=$((failed + 1))
done
if [ "$failed" -gt 0 ]; then
    echo "$failed file(s) did not complete; rerun $0 to try them again (what is in $dest/.partial is resumed)" >&2
    exit 1
fi
echo "all ${#files[@]} files complete in $dest"
if [ "$prepare" -eq 1 ]; then
    "$python" "$here/preprocess.py" --root "$dest" --version "$version"
fi
