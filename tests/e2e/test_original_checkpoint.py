"""The original benchmark's published checkpoints (tensorpack 0.9.1's model-1055000: its ResNet-50
graph with TensorFlow's SAME padding, the original's variable names and training state): the
driver's --eval of one gives the original graph's probabilities on the original's crop, choosing
--padding same by itself, and --finetune from one trains with that padding and records it."""
import cv2
import numpy as np
import yaml
from skimage import data
from tensorpack.dataflow import imgaug

from conftest import run_driver
from helpers.images import jpeg_bytes
from helpers.original_resnet import logits, original_variables, random_weights, write_checkpoint

SIZE = 64          # SAME pads the stem 2 before and 3 after here (symmetric: 3 and 3)
PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'camera')       # square, landscape, portrait, grey


def original_crop(encoded):
    """The original's evaluation: cv2.imread, ResizeShortestEdge(size x 256/224, cubic), CenterCrop."""
    img = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)
    augs = imgaug.AugmentorList([imgaug.ResizeShortestEdge(int(SIZE * 256 / 224), cv2.INTER_CUBIC),
                                 imgaug.CenterCrop((SIZE, SIZE))])
    return augs.augment(img)


def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def original_run(tmp_path):
    """(checkpoint prefix, val root, the original graph's probabilities on its val images)."""
    encoded = [jpeg_bytes(getattr(data, name)()) for name in PHOTOS]
    crops = np.stack([original_crop(b) for b in encoded])
    weights = calibrated(random_weights(original_variables(SIZE), seed=4), crops)
    folder = tmp_path / 'imagenet-resnet-d50-webvision2018-200epochs'
    folder.mkdir()
    prefix = str(folder / 'model-1055000')
    write_checkpoint(weights, prefix, step=1055000)
    root = tmp_path / 'root'
    for d in ('meta', 'val'):
        (root / d).mkdir(parents=True)
    for name, b in zip(PHOTOS, encoded):
        (root / 'val' / (name + '.jpg')).write_bytes(b)
    (root / 'meta' / 'synsets.txt').write_text(''.join('n{:08d}\n'.format(i) for i in range(10)))
    (root / 'meta' / 'val.txt').write_text(''.join('{}.jpg {}\n'.format(n, i) for i, n in enumerate(PHOTOS)))
    return prefix, root, softmax(logits(weights, crops).astype(np.float64))


def calibrated(weights, crops):
    """The head scaled and shifted so that the logits on these crops spread about 1.5 around 0 for
    each class (random weights give one class all the probability: any graph would match)."""
    z = logits(weights, crops)
    scale = 1.5 / z.std()
    return dict(weights, **{'linear/W': weights['linear/W'] * scale,
                            'linear/b': ((weights['linear/b'] - z.mean(0)) * scale).astype(np.float32)})


def evaluate(tmp_path, prefix, root, *flags):
    probs = str(tmp_path / 'probs.npy')
    proc = run_driver('-d', 50, '--image-size', SIZE, '--data', root, '--eval', '--load', prefix, '--save-probs',
                      probs, '--predictions', tmp_path / 'p.json', '--workers', 1, *flags)
    return proc, np.load(probs, allow_pickle=False).astype(np.float64)


def test_eval_of_an_original_checkpoint_gives_the_original_graphs_probabilities(tmp_path):
    prefix, root, expected = original_run(tmp_path)
    proc, got = evaluate(tmp_path, prefix, root)
    assert '--padding same: {} is a tensorpack ResNet checkpoint'.format(prefix) in proc.stderr
    assert np.abs(got - expected).max() <= 2e-3, np.abs(got - expected).max()
    _, same = evaluate(tmp_path, prefix, root, '--padding', 'same')
    assert np.abs(same - got).max() <= 1e-6
    _, symmetric = evaluate(tmp_path, prefix, root, '--padding', 'symmetric')       # PyTorch's: other windows
    assert np.abs(symmetric - expected).max() > 2e-2


def test_finetune_from_an_original_checkpoint_keeps_its_padding(tmp_path, demo_root):
    prefix, _, _ = original_run(tmp_path)
    logdir = tmp_path / 'finetuned'
    run_driver('-d', 50, '--image-size', SIZE, '--data', demo_root, '--finetune', '--load', prefix, '--logdir',
               logdir, '--epochs', 1, '--steps-per-epoch', 2, '--batch', 8, '--workers', 1)
    settings = yaml.safe_load((logdir / 'config.yaml').read_text())
    assert settings['padding'] == 'same' and settings['finetune'] is True
    proc = run_driver('-d', 50, '--image-size', SIZE, '--data', demo_root, '--eval', '--load', logdir, '--workers', 1)
    assert 'padding same' in proc.stderr.split('Model flags of', 1)[1].splitlines()[0]
    assert 'tensorpack ResNet checkpoint' not in proc.stderr          # its config.yaml says
