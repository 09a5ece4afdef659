#!/usr/bin/env bash
# Downloads WebVision 2018 into DEST and prepares it (utils/preprocess.py).
#
#   utils/download.sh [--dest DIR] [--no-prepare]
#
# Resumes partial files (curl -C -), retries with back-off (the server reboots every midnight,
# Zurich time), skips files already complete (DEST/.done/NAME), checks free disk space first,
# checks that each archive is whole (tar lists it to the end) before extracting it, refuses
# archive members that would land outside DEST (absolute paths, "..", links), and deletes each
# archive once extracted.
#
# Environment: WEBVISION_MIRROR   base address serving every file (default: the official server)
#              WEBVISION_RETRIES  attempts per file (default 8); WEBVISION_RETRY_WAIT first
#                                 wait in seconds, doubled each time (default 30, at most 1 hour)
#              WEBVISION_TRAIN_ARCHIVES  how many train archives (default 33: _00 .. _32)
#              PYTHON             interpreter for the preparation (default: python3)
set -euo pipefail

dest=.
prepare=1
while [ $# -gt 0 ]; do
    case "$1" in
        --dest) dest="${2:?--dest needs a folder}"; shift 2 ;;
        --no-prepare) prepare=0; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (expected --dest DIR or --no-prepare)" >&2; exit 2 ;;
    esac
done

here="$(cd "$(dirname "$0")" && pwd)"
train_base="${WEBVISION_MIRROR:-https://data.vision.ee.ethz.ch/aeirikur/webvision2018}"
other_base="${WEBVISION_MIRROR:-https://data.vision.ee.ethz.ch/cvl/webvision2018}"
retries="${WEBVISION_RETRIES:-8}"
wait_s="${WEBVISION_RETRY_WAIT:-30}"
n_train="${WEBVISION_TRAIN_ARCHIVES:-33}"

mkdir -p "$dest/.done" "$dest/.partial"

files=()
for ((i = 0; i < n_train; i++)); do
    files+=("$train_base/$(printf 'webvision_train_%02d.tar' "$i")")
done
for f in info.tar val_images_resized.tar val_filelist.txt test_images_resized.tar test_filelist.txt; do
    files+=("$other_base/$f")
done

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

remote_size() {  # prints the Content-Length of URL (empty if the server gives none)
    curl -fsSLI "$1" | tr -d '\r' | awk 'tolower($1) == "content-length:" { n = $2 } END { print n }'
}

# Free space: what is left to fetch, twice (the archive and what it extracts to).
declare -A sizes
need=0
for url in "${files[@]}"; do
    name="$(basename "$url")"
    [ -e "$dest/.done/$name" ] && continue
    size=""
    with_retries "asking the size of $name" eval 'size="$(remote_size "$url")"; [ -n "$size" ]'
    sizes[$name]="$size"
    have=0
    [ -f "$dest/.partial/$name" ] && have="$(stat -c %s "$dest/.partial/$name")"
    need=$((need + 2 * (size - have)))
done
avail="$(df -P -B1 "$dest" | awk 'NR == 2 { print $4 }')"
if [ "$need" -gt "$avail" ]; then
    echo "not enough disk space in $dest: need $need bytes, $avail available" >&2
    exit 1
fi

check_members() {  # refuses members outside the destination, and links (-P: list names unaltered)
    local archive="$1" bad
    bad="$(tar -tvPf "$archive" | awk '$1 ~ /^[lh]/ { print "link: " $0; next }
        { name = $0; for (i = 0; i < 5; i++) sub(/^[^ ]+ +/, "", name);  # mawk has no {5}
          if (name ~ /^\// || name ~ /(^|\/)\.\.(\/|$)/) print "outside: " name }')"
    if [ -n "$bad" ]; then
        echo "refusing $archive: members that would land outside $dest or are links:" >&2
        echo "$bad" | head -5 >&2
        return 1
    fi
}

fetch() {  # called as "fetch || ...", where set -e does not apply: every step checks itself
    local url="$1" name part size got
    name="$(basename "$url")"
    part="$dest/.partial/$name"
    size="${sizes[$name]}"
    got=0
    [ -f "$part" ] && got="$(stat -c %s "$part")"
    if [ "$got" -lt "$size" ]; then
        echo "downloading $name ($size bytes${got:+, $got already here})"
        with_retries "downloading $name" curl -fL --silent --show-error -C - -o "$part" "$url" || return 1
    fi
    got="$(stat -c %s "$part")"
    if [ "$got" -ne "$size" ]; then
        echo "$name: $got bytes, expected $size; removing it, rerun to fetch it again" >&2
        rm -f "$part"
        return 1
    fi
    case "$name" in
        *.tar)
            if ! tar -tf "$part" > /dev/null; then
                echo "$name is not a whole tar archive; removing it, rerun to fetch it again" >&2
                rm -f "$part"
                return 1
            fi
            check_members "$part" || return 1
            tar -xf "$part" -C "$dest" --no-same-owner || return 1
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
    echo "$failed file(s) did not complete; rerun $0 to resume them" >&2
    exit 1
fi
echo "all ${#files[@]} files complete in $dest"
if [ "$prepare" -eq 1 ]; then
    "${PYTHON:-python3}" "$here/preprocess.py" --root "$dest"
fi
