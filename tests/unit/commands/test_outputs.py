"""Every output-path option of the scripts, given every kind of target: a regular file is written;
a missing folder, a folder, a FIFO, a device node, a link to a device and one of the command's own
inputs are refused in one line before any work, and left as they were."""
import os
import stat

import numpy as np
import pytest

from webvision.results.predictions import write_predictions
from webvision.results.probs import probs_writer, sidecar_path
from webvision.results.sample_loss import write_losses

from webvision.commands import convert_torch, ensemble, eval_score, json2sub, report, split_noisy

CLASSES, IMAGES = 6, 12


@pytest.fixture
def inputs(tmp_path):
    """A labelled list with its synsets, its predictions, probabilities and per-image losses."""
    meta = tmp_path / 'meta'
    meta.mkdir()
    (meta / 'synsets.txt').write_text(''.join('n{:08d}\n'.format(c) for c in range(CLASSES)))
    names = ['img{}.jpg'.format(i) for i in range(IMAGES)]
    labels = np.arange(IMAGES) % CLASSES
    (meta / 'val.txt').write_text(''.join('{} {}\n'.format(n, c) for n, c in zip(names, labels)))
    rng = np.random.RandomState(0)
    probs = rng.dirichlet(np.ones(CLASSES), IMAGES)
    top5 = np.argsort(-probs, axis=1)[:, :5]
    write_predictions(str(tmp_path / 'p.json'), names, labels, top5, np.take_along_axis(probs, top5, axis=1))
    with probs_writer(str(tmp_path / 'p.npy'), names, CLASSES, list=str(meta / 'val.txt')) as out:
        out[:] = probs
    write_losses(str(tmp_path / 'loss.npy'), rng.uniform(0, 3, IMAGES))
    (tmp_path / 'model.pth').write_bytes(b'not read: the output is checked first')
    return dict(list=str(meta / 'val.txt'), synsets=str(meta / 'synsets.txt'), pred=str(tmp_path / 'p.json'),
                probs=str(tmp_path / 'p.npy'), losses=str(tmp_path / 'loss.npy'), pth=str(tmp_path / 'model.pth'))


# (name, main, argv for an output path, the flag named in errors, the inputs it must never replace, writes?)
COMMANDS = [
    ('ensemble', ensemble.main, lambda i, o: ['--probs', i['probs'], '--list', i['list'], '--out', o], '--out',
     ('probs', 'list', 'probs.json'), True),
    ('split_noisy', split_noisy.main, lambda i, o: ['--losses', i['losses'], '--list', i['list'], '--out', o], '--out',
     ('losses', 'list'), True),
    ('report', report.main, lambda i, o: ['--predictions', i['pred'], '--labels', i['list'], '--probs', i['probs'],
                                          '--out', o], '--out', ('pred', 'list', 'probs', 'synsets'), True),
    ('json2sub', json2sub.main, lambda i, o: ['--predictions', i['pred'], '--test-list', i['list'], '--out', o],
     '--out', ('pred', 'list', 'synsets'), True),
    ('eval_score', eval_score.main, lambda i, o: ['--predictions', i['pred'], '--labels', i['list'],
                                                  '--per-class', o], '--per-class', ('pred', 'list', 'synsets'), True),
    ('convert_torch', convert_torch.main, lambda i, o: [i['pth'], o], 'OUTPUT', ('pth',), False),
]
TARGETS = ('regular', 'missing folder', 'folder', 'fifo', 'device', 'link to a device')


def make_target(tmp_path, kind):
    """(path, what the refusal says, a function telling that it is unchanged)."""
    path = str(tmp_path / 'target')
    if kind == 'regular':
        with open(path, 'w') as f:
            f.write('old')
        return path, None, None
    if kind == 'missing folder':
        path = str(tmp_path / 'nowhere' / 'out')
        return path, 'does not exist', lambda: not os.path.exists(os.path.dirname(path))
    if kind == 'folder':
        os.mkdir(path)
        return path, 'is a folder', lambda: os.path.isdir(path) and not os.listdir(path)
    if kind == 'fifo':
        os.mkfifo(path)
        return path, 'is a FIFO; refusing to replace it', lambda: stat.S_ISFIFO(os.lstat(path).st_mode)
    if kind == 'device':
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))     # a /dev/null of our own (tests run as root)
        return path, 'is a character device; refusing', lambda: stat.S_ISCHR(os.lstat(path).st_mode)
    os.mknod(str(tmp_path / 'dev'), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.symlink(str(tmp_path / 'dev'), path)
    return path, 'is a character device; refusing', lambda: os.path.islink(path) and stat.S_ISCHR(os.stat(path).st_mode)


def can_mknod():
    return hasattr(os, 'geteuid') and os.geteuid() == 0


@pytest.mark.parametrize('kind', TARGETS)
@pytest.mark.parametrize('command', COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_output_option_refuses_what_it_must_not_replace(tmp_path, inputs, capsys, command, kind):
    name, main, argv, flag, _, writes = command
    if kind in ('device', 'link to a device') and not can_mknod():
        pytest.skip('making a device node needs root')
    path, refusal, unchanged = make_target(tmp_path, kind)
    code = main(argv(inputs, path))
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    if refusal is None:
        if writes:
            assert code == 0, err
            assert open(path, 'rb').read() != b'old' and not [n for n in os.listdir(tmp_path) if '.tmp-' in n]
        else:
            assert code == 1 and flag not in err, err      # refused for its input, not its output
        return
    assert code == 1 and 'error: {} {}: '.format(flag, path) in err and refusal in err, err
    assert unchanged()


@pytest.mark.parametrize('command', COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_output_option_refuses_each_of_its_inputs(tmp_path, inputs, capsys, command):
    name, main, argv, flag, sources, _ = command
    paths = dict(inputs, **{'probs.json': sidecar_path(inputs['probs'])})
    for source in sources:
        before = open(paths[source], 'rb').read()
        link = str(tmp_path / 'link-to-{}'.format(source))
        for target in (paths[source], link):            # the input itself, and a link to it
            if target == link:
                os.symlink(paths[source], link)
            assert main(argv(inputs, target)) == 1
            err = capsys.readouterr().err
            assert 'refusing to overwrite an input' in err and 'Traceback' not in err, err
        assert open(paths[source], 'rb').read() == before


def test_split_noisy_refuses_a_report_path_onto_its_list(tmp_path, inputs, capsys):
    """--out x.txt writes x.noise.csv too: that one may not be an input either."""
    out = os.path.join(os.path.dirname(inputs['list']), 'clean.txt')
    listed = os.path.join(os.path.dirname(out), 'clean.noise.csv')
    os.rename(inputs['list'], listed)
    assert split_noisy.main(['--losses', inputs['losses'], '--list', listed, '--out', out]) == 1
    assert '--out (its report) {}: is also --list'.format(listed) in capsys.readouterr().err


@pytest.mark.parametrize('kind', ['file', 'fifo'])
def test_folder_outputs_are_never_made_over_a_file_or_fifo(tmp_path, capsys, kind):
    from webvision.commands import prepare_imagenet_val, preprocess, preview_transform
    import cv2
    target = tmp_path / 'out'
    target.write_text('kept') if kind == 'file' else os.mkfifo(str(target))
    images = tmp_path / 'imagenet' / 'n01440764'
    images.mkdir(parents=True)
    cv2.imwrite(str(images / 'a.JPEG'), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / 'synsets.txt').write_text('n01440764\n')
    what = 'a regular file' if kind == 'file' else 'a FIFO'
    assert prepare_imagenet_val.main(['--imagenet-val', str(tmp_path / 'imagenet'), '--synsets',
                                      str(tmp_path / 'synsets.txt'), '--out', str(target)]) == 1
    assert '--out {}: is {}, expected a folder'.format(target, what) in capsys.readouterr().err
    assert preprocess.main(['--root', str(tmp_path / 'imagenet'), '--out', str(target)]) == 1
    assert '--out {}: is {}, expected a folder'.format(target, what) in capsys.readouterr().err
    assert preview_transform.main(['--out', str(target), str(images / 'a.JPEG')]) == 1
    assert '--out {}: is {}, expected a folder'.format(target, what) in capsys.readouterr().err
    assert (target.read_text() == 'kept') if kind == 'file' else stat.S_ISFIFO(os.lstat(str(target)).st_mode)
