"""utils/download.sh against an HTTP server on 127.0.0.1 serving small made-up WebVision archives;
one drops the connection half-way the first time it is fetched."""
import io
import shutil
import os
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from conftest import ROOT


SCRIPT = os.path.join(ROOT, 'utils', 'download.sh')


def tar_bytes(members, special=()):
    """A tar of regular files {name: bytes}, then the TarInfo headers in ``special`` as they are."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.GNU_FORMAT) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for info in special:
            t.addfile(info, io.BytesIO(b'x' * info.size) if info.size else None)
    return buf.getvalue()


def jpeg(seed):
    from skimage.data import astronaut
    im = astronaut()[seed * 30:seed * 30 + 90, seed * 20:seed * 20 + 120, ::-1]
    return cv2.imencode('.jpg', np.ascontiguousarray(im))[1].tobytes()


def webvision_files():
    train = {'google/q0001/{:06d}.jpg'.format(i): jpeg(i) for i in range(3)}
    train2 = {'flickr/q0002/{:06d}.jpg'.format(i): jpeg(i + 3) for i in range(2)}
    lists = {'google': ['google/q0001/{:06d}.jpg 0'.format(i) for i in range(3)],
             'flickr': ['flickr/q0002/{:06d}.jpg 1'.format(i) for i in range(2)]}
    info = {'info/synsets.txt': b'n00000001 tench\nn00000002 goldfish\n',
            'info/train_filelist_google.txt': '\n'.join(lists['google']).encode() + b'\n',
            'info/train_filelist_flickr.txt': '\n'.join(lists['flickr']).encode() + b'\n',
            'info/train_filelist_all.txt': '\n'.join(lists['google'] + lists['flickr']).encode() + b'\n'}
    return {
        'webvision_train_00.tar': tar_bytes(train), 'webvision_train_01.tar': tar_bytes(train2),
        'info.tar': tar_bytes(info),
        'val_images_resized.tar': tar_bytes({'val_images_resized/val000000.jpg': jpeg(0)}),
        'val_filelist.txt': b'val000000.jpg 1\r\n',
        'test_images_resized.tar': tar_bytes({'test_images_resized/test000000.jpg': jpeg(1)}),
        'test_filelist.txt': b'test000000.jpg\n',
    }


class Server:
    """Serves files with HEAD and Range support; ``drop`` names files cut off once, half-way."""

    def __init__(self, files, drop=(), ranges=True, length=None):
        self.files, self.drop, self.requests = files, set(drop), []
        self.ranges, self.length = ranges, length or {}     # length: name -> Content-Length sent
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.respond(body=False)

            def do_GET(self):
                self.respond(body=True)

            def respond(self, body):
                name = self.path.lstrip('/')
                server.requests.append((self.command, name, self.headers.get('Range')))
                if name not in server.files:
                    self.send_error(404)
                    return
                data, start = server.files[name], 0
                rng = self.headers.get('Range') if server.ranges else None
                if rng:
                    start = int(rng.split('=')[1].split('-')[0])
                    self.send_response(206)
                    self.send_header('Content-Range', 'bytes {}-{}/{}'.format(start, len(data) - 1, len(data)))
                else:
                    self.send_response(200)
                self.send_header('Content-Length', server.length.get(name, str(len(data) - start)))
                if server.ranges:
                    self.send_header('Accept-Ranges', 'bytes')
                self.end_headers()
                if not body:
                    return
                if name in server.drop and self.command == 'GET':
                    server.drop.discard(name)
                    self.wfile.write(data[start:start + (len(data) - start) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)          # the connection drops mid-file
                    return
                self.wfile.write(data[start:])

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:{}'.format(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server(webvision_files(), drop={'webvision_train_01.tar'})
    yield s
    s.close()


def download(url, dest, retries='1', args=(), **env_vars):
    env = dict(os.environ, WEBVISION_MIRROR=url, WEBVISION_RETRIES=retries, WEBVISION_RETRY_WAIT='0',
               WEBVISION_TRAIN_ARCHIVES='2', PYTHON=sys.executable)
    env.update(env_vars)
    return subprocess.run(['bash', SCRIPT, '--dest', dest] + list(args), capture_output=True, text=True, env=env,
                          timeout=120)


def webvision1_files():
    """The 1.0 release's archives: lists in info/ (val too), 256-pixel image folders."""
    files = webvision_files()
    info = {k: v for k, v in tarfile_members(files['info.tar']).items()}
    info['info/val_filelist.txt'] = b'val000000.jpg 1\r\n'
    info['info/test_filelist.txt'] = b'test000000.jpg\r\n'
    return {'info.tar': tar_bytes(info),
            'google_resized_256.tar': tar_bytes({'google/q0001/{:06d}.jpg'.format(i): jpeg(i) for i in range(3)}),
            'flickr_resized_256.tar': tar_bytes({'flickr/q0002/{:06d}.jpg'.format(i): jpeg(i + 3) for i in range(2)}),
            'val_images_256.tar': tar_bytes({'val_images_256/val000000.jpg': jpeg(0)}),
            'test_images_256.tar': tar_bytes({'test_images_256/test000000.jpg': jpeg(1)})}


def tarfile_members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def test_version_1_downloads_its_archives_and_is_prepared_as_1(tmp_path):
    s = Server(webvision1_files())
    try:
        dest = str(tmp_path / 'wv1')
        proc = download(s.url, dest, args=['--version', '1.0', '--no-flickr'])
        assert proc.returncode == 0, proc.stderr
        fetched = {name for method, name, _ in s.requests if method == 'GET'}
        assert fetched == {'info.tar', 'google_resized_256.tar', 'val_images_256.tar', 'test_images_256.tar'}
        assert 'WebVision 1.0, 2 classes' in proc.stdout
        assert 'missing                2 listed images not on disk' in proc.stdout         # the Flickr ones
        with open(os.path.join(dest, 'meta', 'train.txt')) as f:
            assert f.read().splitlines() == ['google/q0001/{:06d}.jpg 0'.format(i) for i in range(3)]
        with open(os.path.join(dest, 'meta', 'val.txt')) as f:
            assert f.read() == 'val000000.jpg 1\n'
    finally:
        s.close()
    for bad, message in ((['--version', '3.0'], "expected 2.0 or 1.0, got '3.0'"),
                         (['--no-flickr'], 'only for --version 1.0')):
        proc = download('http://127.0.0.1:9', str(tmp_path / 'x'), args=bad)
        assert proc.returncode == 2 and message in proc.stderr


def test_dropped_download_is_resumed_by_the_rerun_then_prepared(server, tmp_path):
    dest = str(tmp_path / 'wv')
    first = download(server.url, dest)
    assert first.returncode == 1 and 'rerun' in first.stderr
    partial = os.path.join(dest, '.partial', 'webvision_train_01.tar')
    size = len(server.files['webvision_train_01.tar'])
    assert 0 < os.path.getsize(partial) < size                 # half of it, kept

    server.requests.clear()
    second = download(server.url, dest)
    assert second.returncode == 0, second.stderr
    resumed = [r for r in server.requests if r[:2] == ('GET', 'webvision_train_01.tar')]
    assert resumed and resumed[0][2] == 'bytes={}-'.format(size // 2)   # resumed, not restarted
    assert not any(r[0] == 'GET' and r[1] == 'webvision_train_00.tar' for r in server.requests)  # skipped
    assert os.path.isfile(os.path.join(dest, 'flickr', 'q0002', '000001.jpg'))
    assert not os.path.exists(partial)
    assert '2 classes' in second.stdout                         # preprocess ran
    with open(os.path.join(dest, 'meta', 'train.txt')) as f:
        assert len(f.read().split('\n')) - 1 == 5
    assert os.path.isfile(os.path.join(dest, 'test', 'meta', 'val.txt'))

    third = download(server.url, dest)
    assert third.returncode == 0 and third.stdout.count('already complete') == 7


def test_archive_with_members_outside_the_destination_is_refused(tmp_path):
    files = webvision_files()
    files['info.tar'] = tar_bytes({'info/synsets.txt': b'n1 a\n', '../escaped.txt': b'owned'})
    s = Server(files)
    try:
        proc = download(s.url, str(tmp_path / 'wv'))
    finally:
        s.close()
    assert proc.returncode == 1
    assert 'refusing' in proc.stderr and '../escaped.txt' in proc.stderr
    assert not os.path.exists(str(tmp_path / 'escaped.txt'))
    assert not os.path.exists(str(tmp_path / 'wv' / 'info'))


def test_not_enough_disk_is_refused_before_downloading(tmp_path):
    files = webvision_files()
    files['test_images_resized.tar'] = b'x' * 10
    s = Server(files)
    # a server announcing a size larger than any disk: HEAD says 10^15 bytes
    original = s.httpd.RequestHandlerClass.send_header

    def huge(self, key, value):
        if key == 'Content-Length' and self.command == 'HEAD' and self.path.endswith('test_images_resized.tar'):
            value = str(10 ** 15)
        original(self, key, value)
    s.httpd.RequestHandlerClass.send_header = huge
    try:
        proc = download(s.url, str(tmp_path / 'wv'))
    finally:
        s.close()
    assert proc.returncode == 1 and 'not enough disk space' in proc.stderr
    assert not any(r[0] == 'GET' for r in s.requests)


def serve_and_download(files, tmp_path, **server_kwargs):
    s = Server(files, **server_kwargs)
    try:
        return download(s.url, str(tmp_path / 'wv')), s
    finally:
        s.close()


def test_hostile_content_length_is_refused_not_evaluated(tmp_path):
    marker = tmp_path / 'owned'
    hostile = '0*BASH_VERSINFO[$(touch {})]'.format(marker)
    proc, s = serve_and_download(webvision_files(), tmp_path, length={'info.tar': hostile})
    assert proc.returncode == 1 and not marker.exists()
    assert 'error: the Content-Length of' in proc.stderr and hostile in proc.stderr, proc.stderr
    assert not any(r[0] == 'GET' for r in s.requests)            # refused before downloading anything


def test_hostile_environment_numbers_are_refused(tmp_path):
    marker = tmp_path / 'owned'
    for var in ('WEBVISION_TRAIN_ARCHIVES', 'WEBVISION_RETRIES', 'WEBVISION_RETRY_WAIT'):
        proc = download('http://127.0.0.1:9', str(tmp_path / 'wv'), **{var: 'x[$(touch {})]'.format(marker)})
        assert not marker.exists()
        assert proc.returncode == 1 and 'error: {} must be a whole number'.format(var) in proc.stderr, proc.stderr
    assert not marker.exists()


def special(name, kind, size=0, mode=0o644, uname='root'):
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.uname = kind, size, mode, uname
    info.devmajor, info.devminor = 1, 3                          # /dev/null's numbers
    return info


def test_archives_with_devices_fifos_links_or_setuid_files_are_refused(tmp_path):
    for bad, says in ((special('info/null', tarfile.CHRTYPE), "'info/null' is a character device"),
                      (special('info/sda', tarfile.BLKTYPE), "'info/sda' is a block device"),
                      (special('info/pipe', tarfile.FIFOTYPE), "'info/pipe' is a FIFO"),
                      (special('info/x.txt', tarfile.SYMTYPE), "'info/x.txt' is a symbolic link"),
                      (special('a b 1 2 3 ../../x', tarfile.REGTYPE, 2, uname='a b c'), 'outside the destination')):
        files = webvision_files()
        files['info.tar'] = tar_bytes({'info/synsets.txt': b'n1 a\n'}, special=[bad])
        proc, _ = serve_and_download(files, tmp_path)
        assert proc.returncode == 1 and says in proc.stderr, proc.stderr
        assert 'removed it' in proc.stderr
        assert not os.path.exists(str(tmp_path / 'wv' / 'info'))          # nothing of it extracted
        assert not os.path.exists(str(tmp_path / 'wv' / '.partial' / 'info.tar'))
        assert not os.path.exists(str(tmp_path / 'x'))


def test_setuid_bits_and_owners_are_not_restored(tmp_path):
    files = webvision_files()
    suid = special('info/tool', tarfile.REGTYPE, size=3, mode=0o6777, uname='nobody')
    suid.uid = suid.gid = 12345
    files['info.tar'] = tar_bytes(_members(files['info.tar']), special=[suid])
    proc, _ = serve_and_download(files, tmp_path)
    assert proc.returncode == 0, proc.stderr
    st = os.stat(str(tmp_path / 'wv' / 'info' / 'tool'))
    assert not st.st_mode & 0o7022 and st.st_uid != 12345 and st.st_gid != 12345


def _members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isreg()}


def test_mirror_without_range_support_restarts_the_file_from_zero(tmp_path):
    files = webvision_files()
    s = Server(files, drop={'webvision_train_01.tar'}, ranges=False)
    try:
        dest = str(tmp_path / 'wv')
        first = download(s.url, dest)
        assert first.returncode == 1
        assert os.path.getsize(os.path.join(dest, '.partial', 'webvision_train_01.tar')) > 0
        second = download(s.url, dest)
    finally:
        s.close()
    assert second.returncode == 0, second.stderr
    assert 'does not support resuming' in second.stderr and 'from the start' in second.stderr
    assert os.path.isfile(os.path.join(dest, 'flickr', 'q0002', '000001.jpg'))


def test_archive_that_is_not_whole_is_removed_and_says_so(tmp_path):
    files = webvision_files()
    whole = files['val_images_resized.tar']
    files['val_images_resized.tar'] = whole[:512 + 100]              # header + part of the image
    proc, _ = serve_and_download(files, tmp_path)
    assert proc.returncode == 1 and 'whole' in proc.stderr and 'removed it' in proc.stderr, proc.stderr
    assert not os.path.exists(str(tmp_path / 'wv' / '.partial' / 'val_images_resized.tar'))
    assert not os.path.exists(str(tmp_path / 'wv' / 'val_images_resized'))


def test_download_script_passes_shellcheck():
    shellcheck = shutil.which('shellcheck')
    if shellcheck is None:
        pytest.skip('shellcheck is not installed (Debian package shellcheck; .ci/run installs it)')
    proc = subprocess.run([shellcheck, '--severity=style', SCRIPT], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_help_prints_the_whole_header_and_nothing_else():
    proc = subprocess.run(['bash', SCRIPT, '--help'], capture_output=True, text=True, timeout=30)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines[0].startswith('# Downloads WebVision 2.0')
    assert all(line.startswith('#') for line in lines) and 'PYTHON' in lines[-1]
