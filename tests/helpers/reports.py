"""A root of real photo crops, its predictions and a run with per-image losses, for the report's tests."""
import json
import re

import numpy as np

from helpers.images import encode, photo
from webvision.results.predictions import write_predictions
from webvision.results.sample_loss import epoch_path, write_losses


def make_root(tmp_path, num_classes=6, per_class=5, hostile_name=False):
    """A root of real photo crops: val images per class, a train list of uneven classes."""
    root = tmp_path / 'root'
    for d in ('meta', 'val'):
        (root / d).mkdir(parents=True)
    synsets = ['n{:08d}'.format(c) for c in range(num_classes)]
    (root / 'meta' / 'synsets.txt').write_text('\n'.join(synsets) + '\n')
    words = ['{} thing {}'.format(s, c) for c, s in enumerate(synsets)]
    if hostile_name:
        words[1] = '{} <script>document.body.dataset.errors="injected"</script></script>'.format(synsets[1])
    (root / 'meta' / 'synset_words.txt').write_text('\n'.join(words) + '\n')
    val = []
    for c in range(num_classes):
        for i in range(per_class):
            name = 'v{}_{}.jpg'.format(c, i)
            (root / 'val' / name).write_bytes(encode(photo(c + i, (60, 90))))
            val.append('{} {}'.format(name, c))
    (root / 'meta' / 'val.txt').write_text('\n'.join(val) + '\n')
    train = ['t{}_{}.jpg {}'.format(c, i, c) for c in range(num_classes) for i in range(3 + 4 * c)]
    (root / 'meta' / 'train.txt').write_text('\n'.join(train) + '\n')
    return root, [v.split()[0] for v in val], np.array([int(v.split()[1]) for v in val])


def predict(names, labels, num_classes, tmp_path, seed=0):
    """Predictions right for 60 % of the images, else the next class first."""
    rng = np.random.RandomState(seed)
    top1 = np.where(rng.rand(len(labels)) < 0.6, labels, (labels + 1) % num_classes)
    top5 = np.stack([(top1 + k) % num_classes for k in (0, -1, 1, 2, 3)], axis=1)     # the label in the top 5
    prob = np.tile([0.5, 0.2, 0.1, 0.1, 0.1], (len(labels), 1))
    path = str(tmp_path / 'pred.json')
    write_predictions(path, names, labels, top5, prob)
    return path, top1


def page_data(html):
    """The class table's rows, as the page's script reads them."""
    data = re.search(r'<script type="application/json" id="classes">(.*?)</script>', html, re.S).group(1)
    return json.loads(data)


def make_run(tmp_path, train_count):
    """A run folder as the driver leaves it: stats.json, log.log, a checkpoint, sample-loss files."""
    run = tmp_path / 'run'
    run.mkdir()
    stats = [{'epoch_num': e, 'train-error-top1': 0.9 - 0.1 * e, 'val-error-top1': 0.8 - 0.1 * e,
              'learning_rate': 0.1} for e in range(1, 4)]
    (run / 'stats.json').write_text(json.dumps(stats))
    (run / 'log.log').write_text('[1127 17:51:44 @logger.py:92] Argv: imagenet-resnet.py -d 18 --sample-loss\n'
                                 '[1127 18:51:44 @logger.py:92] Argv: imagenet-resnet.py -d 18 --sample-loss --lr <b>\n')
    (run / 'model-40.index').write_bytes(b'')
    (run / 'model-120.index').write_bytes(b'')
    rng = np.random.RandomState(0)
    write_losses(epoch_path(str(run), 2), rng.rand(train_count))
    write_losses(epoch_path(str(run), 3), np.concatenate([rng.rand(train_count // 2) * 0.1,
                                                          3 + rng.rand(train_count - train_count // 2)]))
    return run
