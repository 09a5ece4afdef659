#!/usr/bin/env python3
"""Extracts a tar archive from an untrusted mirror into DEST, or refuses it whole:

  utils/safe_extract.py ARCHIVE DEST

Before anything is written, every member is read to the end of the archive (a cut-short archive
is refused) and checked: only regular files and folders, each inside DEST (no absolute names, no
".." components). Links, devices, FIFOs and anything else are refused, naming the member. Then
the members are extracted with tarfile's 'data' filter, which also drops owners and setuid,
setgid, sticky and group/other write bits. Exit status 0 when extracted, 1 when refused.
"""
import argparse
import os
import sys
import tarfile

KINDS = {tarfile.SYMTYPE: 'a symbolic link', tarfile.LNKTYPE: 'a hard link', tarfile.CHRTYPE: 'a character device',
         tarfile.BLKTYPE: 'a block device', tarfile.FIFOTYPE: 'a FIFO'}


class ArchiveError(ValueError):
    """A member that must not be extracted, or an archive that is not whole."""


def problem(member, archive_size):
    """Why ``member`` is refused, or None."""
    name = member.name
    if not (member.isreg() or member.isdir()):
        return '{!r} is {}'.format(name, KINDS.get(member.type, 'of tar type {!r}'.format(member.type)))
    parts = name.replace('\\', '/').split('/')
    if name.startswith('/') or '..' in parts or not name.strip('/'):
        return '{!r} would land outside the destination'.format(name)
    if member.isreg() and member.offset_data + member.size > archive_size:
        return '{!r} is cut short: the archive is not whole'.format(name)
    return None


def checked_members(path):
    """Every member of the archive, or ArchiveError naming the first five refused."""
    size = os.path.getsize(path)
    try:
        with tarfile.open(path, 'r:*') as t:
            members = t.getmembers()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ArchiveError('{}: not a whole tar archive ({})'.format(path, e)) from None
    bad = [p for p in (problem(m, size) for m in members) if p]
    if bad:
        raise ArchiveError('{}: refusing the archive: {} member(s) are not plain files or folders inside the '
                           'destination:\n  {}'.format(path, len(bad), '\n  '.join(bad[:5])))
    return members


def extract(path, dest):
    """Checks the whole archive, then extracts it into ``dest``; returns the number of members."""
    if not hasattr(tarfile, 'data_filter'):
        raise ArchiveError('this Python ({}) has no tarfile extraction filters; use 3.11.4 or newer'.format(
            sys.version.split()[0]))
    members = checked_members(path)
    os.makedirs(dest, exist_ok=True)
    try:
        with tarfile.open(path, 'r:*') as t:
            t.extractall(dest, members=members, filter='data')
    except (tarfile.TarError, EOFError) as e:
        raise ArchiveError('{}: {}'.format(path, e)) from None
    return len(members)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('archive')
    p.add_argument('dest')
    args = p.parse_args(argv)
    try:
        n = extract(args.archive, args.dest)
    except (ArchiveError, OSError) as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    print('{}: extracted {} members into {}'.format(os.path.basename(args.archive), n, args.dest))
    return 0


if __name__ == '__main__':
    sys.exit(main())
