#!/usr/bin/env python3
"""Does it learn? The toolkit beside a plain PyTorch loop on real held-out images.

The data: scikit-learn's 1,797 handwritten digits upsampled to 64 px, split 80/20 stratified by
class (webvision.data.digits), optionally with label noise injected into the training list. On it
the same budget is trained by:
  - the toolkit, through its command line (imagenet-resnet.py -d 18 at its defaults, plus the
    row's flags), as a user would run it;
  - the peer: torchvision's ResNet-18 in a plain PyTorch loop, with the same images, split, batch,
    epochs, peak learning rate, warm-up and cosine schedule, Nesterov momentum 0.9, weight decay
    1e-4 over model.parameters(), the same augmentation strengths (random-resized crop 8-100 %,
    flip, colour jitter 0.4, PCA lighting 0.1) and the same validation crop (shorter side 73,
    centre 64, bicubic);
  - logistic regression on the raw 8 x 8 pixels, the floor.
Toolkit and peer alternate (which goes first changes each repeat), both with the same threads
(OMP_WAIT_POLICY=PASSIVE for the peer: its spinning OpenMP threads collapsed on a loaded machine).
Val error is top-1 on the held-out 20 % after the last epoch; images/s is training images over
the time of the training epochs (the toolkit's own "Epoch N finished, time" lines; validation and
start-up left out on both sides).

  bench/learning.py                       the clean table (make bench)
  bench/learning.py --noise 0.2 0.4 0.6 --asymmetric 0.4 --methods ce gce sce bootstrap ls mixup split
  bench/learning.py --quick               a few epochs, one repeat: checks that it works
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
from common import figure, report

SIZE, BATCH, THREADS = 64, 32, 2
TOOLKIT = ['-d', '18', '--image-size', str(SIZE), '--batch', str(BATCH), '--lr-schedule', 'cosine',
           '--threads', str(THREADS), '--workers', str(THREADS)]
# noise-robust methods: the toolkit's flags (split: --sample-loss, utils/split_noisy.py, retrain)
METHODS = {'ce': [], 'gce': ['--loss', 'gce'], 'sce': ['--loss', 'sce'], 'bootstrap': ['--loss', 'bootstrap'],
           'ls': ['--label-smoothing', '0.1'], 'mixup': ['--mixup', '0.2'], 'split': None}


def build(folder, noise, kind, seed=0):
    from webvision.data.digits import write_root
    root = os.path.join(folder, 'digits-{}-{}'.format(kind, noise))
    if not os.path.isdir(root):
        write_root(root, size=SIZE, noise=noise, noise_kind=kind, seed=seed)
    return root


# -- the toolkit -------------------------------------------------------------------------------

def epoch_seconds(log_text):
    """Seconds of each "Epoch N (global_step S) finished, time:T" line of a tensorpack log."""
    units = {'second': 1, 'minute': 60, 'hour': 3600}
    times = []
    for m in re.finditer(r'Epoch \d+ \(global_step \d+\) finished, time:(.+?)\.$', log_text, re.M):
        times.append(sum(float(v) * units[u] for v, u in re.findall(r'([\d.]+) (second|minute|hour)', m.group(1))))
    return times


def toolkit(root, epochs, flags, logdir, train_list=None):
    cmd = [sys.executable, os.path.join(ROOT, 'imagenet-resnet.py'), '--data', root, '--logdir', logdir,
           '--epochs', str(epochs)] + TOOLKIT + flags + (['--train-list', train_list] if train_list else [])
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit('toolkit failed ({}): {}\n{}'.format(out.returncode, ' '.join(cmd), out.stderr[-3000:]))
    with open(os.path.join(logdir, 'stats.json')) as f:
        stats = json.load(f)
    with open(os.path.join(logdir, 'log.log')) as f:
        seconds = epoch_seconds(f.read())
    steps = stats[-1]['global_step'] / len(stats)
    return {'val_error': stats[-1]['val-error-top1'], 'images_per_sec': steps * BATCH * len(seconds) / sum(seconds)}


# -- the peer: a plain PyTorch loop --------------------------------------------------------------

def peer(root, epochs, seed, init='torchvision', lr=None):
    """Runs the peer in a fresh process (torch and TensorFlow do not share one well)."""
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE', OMP_NUM_THREADS=str(THREADS))
    with tempfile.NamedTemporaryFile('r', suffix='.json') as out:
        cmd = [sys.executable, __file__, '--peer', root, '--epochs', str(epochs), '--seed', str(seed),
               '--peer-init', init, '--out', out.name] + (['--lr', str(lr)] if lr else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit('peer failed ({}):\n{}'.format(proc.returncode, proc.stderr[-3000:]))
        return json.load(out)


def _read_split(root, split):
    import cv2
    import numpy as np
    from webvision.data.lists import read_list
    names, labels = read_list(os.path.join(root, 'meta', split + '.txt'))
    images = [cv2.cvtColor(cv2.imread(os.path.join(root, split, n)), cv2.COLOR_BGR2RGB) for n in names]
    return images, np.asarray(labels)


def _val_crop(rgb):
    """The toolkit's validation crop (tensorpack's ResizeShortestEdge, bicubic, then the centre)."""
    import cv2
    short = SIZE * 256 // 224
    h, w = rgb.shape[:2]
    scale = short / min(h, w)
    nh, nw = (short, int(scale * w + 0.5)) if h < w else (int(scale * h + 0.5), short)
    im = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_CUBIC)
    y, x = (nh - SIZE) // 2, (nw - SIZE) // 2
    return im[y:y + SIZE, x:x + SIZE]


def _toolkit_init(model):
    """The original's initialisation on torchvision's ResNet-18: the last BN gamma of every block
    at zero, the classifier from N(0, 0.01) with zero bias (convolutions: kaiming fan_out in both)."""
    import torch
    for m in model.modules():
        if hasattr(m, 'bn2') and not hasattr(m, 'bn3'):
            torch.nn.init.zeros_(m.bn2.weight)
    torch.nn.init.normal_(model.fc.weight, std=0.01)
    torch.nn.init.zeros_(model.fc.bias)


def _lighting(batch, std, generator):
    """AlexNet's PCA lighting on a float RGB batch in [0, 1] (ImageNet's eigen-values and -vectors)."""
    import torch
    from webvision.core.constants import PCA_EIGVAL, PCA_EIGVEC
    alpha = torch.randn(batch.shape[0], 3, generator=generator) * std
    rgb = (alpha * torch.tensor(PCA_EIGVAL, dtype=torch.float32) / 255.) @ torch.tensor(PCA_EIGVEC, dtype=torch.float32).T
    return (batch + rgb[:, :, None, None]).clamp(0, 1)


def run_peer(a):
    import numpy as np
    import torch
    import torchvision
    from torchvision.transforms import v2

    from webvision.core.constants import IMAGE_MEAN_RGB, IMAGE_STD_RGB
    from webvision.train.lr import learning_rate_at

    torch.set_num_threads(THREADS)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    train_images, train_labels = _read_split(a.peer, 'train')
    val_images, val_labels = _read_split(a.peer, 'val')
    train_x = [torch.from_numpy(im).permute(2, 0, 1).contiguous() for im in train_images]
    val_x = torch.from_numpy(np.stack([_val_crop(im) for im in val_images])).permute(0, 3, 1, 2)
    augment = v2.Compose([v2.RandomResizedCrop(SIZE, scale=(0.08, 1.), ratio=(3 / 4, 4 / 3),
                                               interpolation=v2.InterpolationMode.BICUBIC),
                          v2.RandomHorizontalFlip(), v2.ColorJitter(0.4, 0.4, 0.4)])
    mean = torch.tensor(IMAGE_MEAN_RGB / 255., dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGE_STD_RGB / 255., dtype=torch.float32)[:, None, None]

    model = torchvision.models.resnet18(num_classes=10)
    if a.peer_init == 'toolkit':
        _toolkit_init(model)
    lr = a.lr or 0.1 * BATCH / 256
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    steps = len(train_x) // BATCH
    schedule = dict(base_lr=lr, steps_per_epoch=steps, epochs=a.epochs, warmup_epochs=3, warmup_lr=0., kind='cosine')
    labels = torch.from_numpy(train_labels)
    seconds, step = 0., 0
    for _ in range(a.epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(len(train_x), generator=gen)
        for b in range(steps):
            idx = order[b * BATCH:(b + 1) * BATCH]
            x = torch.stack([augment(train_x[i]) for i in idx]).float() / 255.
            x = (_lighting(x, 0.1, gen) - mean) / std
            for group in opt.param_groups:
                group['lr'] = learning_rate_at(step, **schedule)
            loss = torch.nn.functional.cross_entropy(model(x), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        seconds += time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model((val_x[i:i + 100].float() / 255. - mean) / std).argmax(1)
                          for i in range(0, len(val_x), 100)])
    result = {'val_error': float((pred.numpy() != val_labels).mean()),
              'images_per_sec': steps * BATCH * a.epochs / seconds}
    with open(a.out, 'w') as f:
        json.dump(result, f)


# -- the floor -----------------------------------------------------------------------------------

def logistic_regression(root):
    """Top-1 val error of logistic regression on the raw 8 x 8 pixels, trained on root's (noisy) labels."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from webvision.data.lists import read_list

    pixels = load_digits().data

    def rows(split):
        names, labels = read_list(os.path.join(root, 'meta', split + '.txt'))
        return pixels[[int(re.search(r'(\d+)\.png$', n).group(1)) for n in names]], np.asarray(labels)
    (xt, yt), (xv, yv) = rows('train'), rows('val')
    clf = LogisticRegression(max_iter=5000).fit(xt / 16., yt)
    return float((clf.predict(xv / 16.) != yv).mean())


# -- the tables ----------------------------------------------------------------------------------

def clean_table(args, folder):
    root = build(folder, 0., 'symmetric')
    ours, theirs, ours_ips, theirs_ips = [], [], [], []
    for r in range(args.repeats):
        order = ('toolkit', 'peer') if r % 2 == 0 else ('peer', 'toolkit')
        for side in order:
            if side == 'toolkit':
                with tempfile.TemporaryDirectory(dir=folder) as logdir:
                    res = toolkit(root, args.epochs, args.flags, logdir)
                ours.append(res['val_error'])
                ours_ips.append(res['images_per_sec'])
            else:
                res = peer(root, args.epochs, seed=r)
                theirs.append(res['val_error'])
                theirs_ips.append(res['images_per_sec'])
            print('{} repeat {}: {}'.format(side, r + 1, res), flush=True)
    what = 'ResNet-18 at 64 px, batch {}, {} epochs, digits (1,437 train / 360 val)'.format(BATCH, args.epochs)
    rows = [figure('top-1 val error, ' + what, '%', [100 * v for v in ours], 'torchvision ResNet-18, PyTorch loop',
                   [100 * v for v in theirs], higher_is_better=False),
            figure('training speed, ' + what, 'images/s', ours_ips, 'torchvision ResNet-18, PyTorch loop',
                   theirs_ips)]
    return rows, {'logistic regression on the raw pixels, top-1 val error %': 100 * logistic_regression(root),
                  'toolkit flags': ' '.join(TOOLKIT + args.flags) or '(defaults)'}


def split_retrain(root, epochs, flags, folder):
    """As docs/training.md shows it: a run of the full budget with --sample-loss, utils/split_noisy.py
    on its losses averaged over the last third of its epochs, then a full run on the part kept; (val
    error, precision and recall of the removed labels being the wrong ones). (A warm-up of a third
    of the epochs, averaging epochs 2-5, removed many right labels: precision 0.59 at 40 %.)"""
    import numpy as np
    from webvision.data.lists import read_list
    with tempfile.TemporaryDirectory(dir=folder) as first:
        toolkit(root, epochs, flags + ['--sample-loss'], first)
        losses = [os.path.join(first, 'sample_loss', 'epoch-{}.npy'.format(e))
                  for e in range(epochs - max(epochs // 3, 1) + 1, epochs + 1)]
        out = subprocess.run([sys.executable, os.path.join(ROOT, 'utils', 'split_noisy.py'), '--losses'] + losses +
                             ['--list', os.path.join(root, 'meta', 'train.txt'),
                              '--out', os.path.join(root, 'meta', 'train_clean.txt')],
                             capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            raise SystemExit('split_noisy failed:\n' + out.stderr[-3000:])
    names, shown = read_list(os.path.join(root, 'meta', 'train.txt'))
    _, truth = read_list(os.path.join(root, 'meta', 'train_truth.txt'))
    kept, _ = read_list(os.path.join(root, 'meta', 'train_clean.txt'))
    removed = ~np.isin(names, kept)
    wrong = shown != truth
    precision = (removed & wrong).sum() / max(removed.sum(), 1)
    recall = (removed & wrong).sum() / max(wrong.sum(), 1)
    with tempfile.TemporaryDirectory(dir=folder) as second:
        res = toolkit(root, epochs, flags, second, train_list='train_clean')
    return res['val_error'], float(precision), float(recall)


def noise_table(args, folder):
    settings = [(n, 'symmetric') for n in args.noise] + [(n, 'asymmetric') for n in args.asymmetric]
    lines = ['| noise | ' + ' | '.join(args.methods) + ' | peer, ce | logistic regression |',
             '|---' * (len(args.methods) + 3) + '|']
    extra = {}
    for noise, kind in settings:
        root = build(folder, noise, kind)
        cells = []
        for method in args.methods:
            if method == 'split':
                err, precision, recall = split_retrain(root, args.epochs, args.flags, folder)
                cells.append('{:.1f} (removed: precision {:.2f}, recall {:.2f})'.format(100 * err, precision, recall))
            else:
                with tempfile.TemporaryDirectory(dir=folder) as logdir:
                    cells.append('{:.1f}'.format(100 * toolkit(root, args.epochs, args.flags + METHODS[method],
                                                               logdir)['val_error']))
            print('{} {} {}: {}'.format(kind, noise, method, cells[-1]), flush=True)
        cells.append('{:.1f}'.format(100 * peer(root, args.epochs, seed=0)['val_error']))
        cells.append('{:.1f}'.format(100 * logistic_regression(root)))
        lines.append('| {:.0f} % {} | '.format(100 * noise, kind) + ' | '.join(cells) + ' |')
    table = '\n'.join(lines)
    print(table)
    extra['noise table (top-1 val error %, one run each)'] = table
    return [], extra


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--epochs', type=int, default=15)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--flags', nargs=argparse.REMAINDER, default=[], help='more toolkit flags (last)')
    p.add_argument('--noise', type=float, nargs='*', default=[], help='symmetric noise fractions: the noise table')
    p.add_argument('--asymmetric', type=float, nargs='*', default=[], help='asymmetric noise fractions')
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    p.add_argument('--quick', action='store_true', help='3 epochs, one repeat')
    p.add_argument('--peer', metavar='ROOT', help=argparse.SUPPRESS)
    p.add_argument('--peer-init', default='torchvision', choices=('torchvision', 'toolkit'), help=argparse.SUPPRESS)
    p.add_argument('--seed', type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument('--lr', type=float, help=argparse.SUPPRESS)
    p.add_argument('--out', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.peer:
        return run_peer(args)
    if args.quick:
        args.epochs, args.repeats = 3, 1
    noisy = bool(args.noise or args.asymmetric)
    with tempfile.TemporaryDirectory(prefix='learning-') as folder:
        rows, extra = (noise_table if noisy else clean_table)(args, folder)
    report('learning_noise.py' if noisy else __file__, rows, extra)      # bench/results/learning{,_noise}.json


if __name__ == '__main__':
    main()
