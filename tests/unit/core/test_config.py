"""webvision/core/config.py and the driver's --config: settings files read safely, checked by the flags'
own types, overridden by the command line; every shipped config in configs/ parses and builds its
training graph; a run's config.yaml gives --eval its model flags."""
import glob
import os

import pytest

from conftest import ROOT
from webvision.core import config
from webvision.core.errors import InputError
from webvision.model.run import make_model


def write(tmp_path, text, name='c.yaml'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_command_line_overrides_the_file_and_the_file_the_defaults(driver, tmp_path):
    path = write(tmp_path, 'depth: 18\nlr-schedule: cosine\nlr: 0.05\nbalance: true\nno_val: false\n'
                           'predict: [a.jpg, b.jpg]\n')
    args = config.parse_args(driver.get_args_parser(), ['--config', path, '--lr', '0.2'])
    assert (args.depth, args.lr_schedule, args.lr, args.balance, args.no_val) == (18, 'cosine', 0.2, True, False)
    assert args.predict == ['a.jpg', 'b.jpg'] and args.config == path and args.batch == 256
    assert config.parse_args(driver.get_args_parser(), ['-c', path, '-d', '50']).depth == 50


def test_on_off_switches_and_pairs_of_values_from_a_file(driver, tmp_path):
    """--zero-init-residual / --no-zero-init-residual from true / false; --crop-area from a list;
    and the file a run writes gives them back."""
    path = write(tmp_path, 'zero_init_residual: true\nbn_weight_decay: false\ncrop_area: [0.35, 1]\n')
    args = config.parse_args(driver.get_args_parser(), ['--config', path])
    assert (args.zero_init_residual, args.bn_weight_decay, args.crop_area) == (True, False, [0.35, 1.])
    assert config.parse_args(driver.get_args_parser(), ['--config', path, '--no-zero-init-residual']).zero_init_residual is False
    out = str(tmp_path / config.FILE_NAME)
    config.write_config(out, config.settings(args), 'imagenet-resnet.py')
    again = config.parse_args(driver.get_args_parser(), ['--config', out])
    assert (again.zero_init_residual, again.crop_area) == (True, [0.35, 1.])


@pytest.mark.parametrize('text, message', [
    ('dpeth: 18\n', "'dpeth' is not a flag of this command; did you mean depth?"),
    ('depth: 19\n', 'depth: 19 is not one of 18, 34, 50, 101, 152'),
    ('lr: fast\n', "lr: 'fast' is not valid"),
    ('balance: 1\n', 'balance: expected true or false, got 1'),
    ('depth: [18, 50]\n', 'depth: expected one value'),
    ('depth: 18\n  bad: indent\n', 'c.yaml:2: not YAML'),
    ('- depth\n- 18\n', 'expected "flag: value" lines, got a list'),
    ('x: !!python/object/apply:os.system ["touch pwned"]\n', 'not YAML'),     # safe_load constructs nothing
    ('config: other.yaml\n', "'config' is not a flag of this command"),
    ('zero_init_residual: 1\n', 'zero_init_residual: expected true or false, got 1'),
    ('crop_area: 0.5\n', 'crop_area'),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_key(driver, tmp_path, capsys, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SystemExit) as e:
        config.parse_args(driver.get_args_parser(), ['--config', path])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and path in err and 'Traceback' not in err, err
    assert not os.path.exists('pwned')


def test_a_file_that_is_not_a_regular_file_or_too_large_is_refused(tmp_path):
    fifo = str(tmp_path / 'fifo.yaml')
    os.mkfifo(fifo)
    with pytest.raises(InputError, match='is a FIFO, expected a regular file'):
        config.read_config(fifo)
    big = write(tmp_path, 'a: ' + 'x' * config.MAX_BYTES + '\n', 'big.yaml')
    with pytest.raises(InputError, match='over 1,048,576 bytes'):
        config.read_config(big)
    assert config.read_config(write(tmp_path, '# nothing\n', 'empty.yaml')) == {}


def test_settings_round_trip_and_say_what_changed(driver, tmp_path):
    args = driver.get_args_parser().parse_args(['-d', '18', '--mixup', '0.2'])
    values = config.settings(args, lr=0.1, data='/d')
    path = str(tmp_path / config.FILE_NAME)
    config.write_config(path, values, 'imagenet-resnet.py')
    back = config.read_config(path)
    assert back == values and 'config' not in back and back['lr'] == 0.1
    again = config.parse_args(driver.get_args_parser(), ['--config', path])
    assert (again.depth, again.mixup, again.lr, again.data) == (18, 0.2, 0.1, '/d')
    assert config.changed(back, dict(back, depth=50), ['depth', 'mode']) == ['depth: 18 -> 50']


SHIPPED = sorted(glob.glob(os.path.join(ROOT, 'configs', '*.yaml')))


# The 2018 benchmark's recipe (qinenergy/webvision-2.0-benchmarks, on tensorpack's ResNet example),
# wherever the toolkit's defaults now differ from it
ORIGINAL = dict(warmup_lr=0.1, epoch_images=1280000, zero_init_residual=True, head_init='normal', weight_decay=1e-4,
                bn_weight_decay=False, bn_momentum=0.9, crop_area=[0.08, 1.], hflip=0.5, color_jitter=0.4,
                lighting=0.1, depth=50, mode='resnet', batch=256, epochs=110, lr_schedule='step', lr=None,
                loss='ce', balance=False, label_smoothing=0., mixup=0., ema=0., padding='same', image_size=224)


def test_the_baseline_config_is_the_original_recipe_and_the_protocols_are_shipped(driver, tmp_path):
    from webvision.train.lr import learning_rate_at
    names = {os.path.basename(p) for p in SHIPPED}
    assert {'webvision2-r50-baseline.yaml', 'webvision2-r50-modern.yaml', 'mini-webvision-r50.yaml',
            'webvision1-r50.yaml'} <= names
    parser = driver.get_args_parser()
    path = os.path.join(ROOT, 'configs', 'webvision2-r50-baseline.yaml')
    baseline = vars(config.parse_args(parser, ['--config', path]))
    defaults = vars(parser.parse_args([]))
    assert {k: baseline[k] for k in ORIGINAL} == ORIGINAL
    assert {k: v for k, v in baseline.items() if k not in ORIGINAL and k != 'config'} == \
        {k: v for k, v in defaults.items() if k not in ORIGINAL and k != 'config'}
    args = config.parse_args(parser, ['--config', path, '--data', str(tmp_path)])
    assert driver.steps_per_epoch(args, str(tmp_path), 256) == 5000     # whatever the list's size
    for batch in (256, 1024):           # the original: 0.1 x batch / 256, a warm-up from 0.1 above it, 10x drops
        peak = 0.1 * batch / 256
        sched = dict(base_lr=peak, steps_per_epoch=100, epochs=110, warmup_epochs=baseline['warmup_epochs'],
                     warmup_lr=baseline['warmup_lr'])
        assert learning_rate_at(0, **sched) == pytest.approx(0.1)
        assert learning_rate_at(299, **sched) == pytest.approx(peak if batch == 256 else 0.1 + 0.3 * 299 / 300)
        assert [learning_rate_at(e * 100, **sched) for e in (29, 30, 60, 90)] == pytest.approx(
            [peak, peak / 10, peak / 100, peak / 1000])


@pytest.mark.slow
@pytest.mark.parametrize('path', SHIPPED, ids=[os.path.basename(p) for p in SHIPPED])
def test_every_shipped_config_builds_its_training_graph(driver, demo_root, path):
    import tensorflow as tf
    from tensorpack.tfutils.tower import TowerContext
    args = config.parse_args(driver.get_args_parser(), ['--config', path, '--data', demo_root])
    run = driver.make_run(args)
    with tf.Graph().as_default(), TowerContext('', is_training=True):
        model = make_model(run, num_classes=5000)
        inputs = [tf.compat.v1.placeholder(s.dtype, s.shape, s.name) for s in model.inputs()]
        cost = model.build_graph(*inputs)
        model.optimizer()
        assert cost.shape == () and len(tf.compat.v1.trainable_variables()) > 100
