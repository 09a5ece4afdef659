"""imagenet-resnet.py in-process: the flags in their groups, the checks before any work, and the one
frozen Run computed from them (the programs' own runs are in test_driver.py, marked e2e)."""
import dataclasses
import os

import numpy as np
import pytest

from webvision.core.errors import FlagError, WeightsError
from webvision.model.run import make_model



def parse(driver, *flags):
    return driver.get_args_parser().parse_args([str(f) for f in flags])


def test_every_flag_sits_in_a_named_group(driver):
    parser = driver.get_args_parser()
    groups = {g.title: [a.option_strings[-1] for a in g._group_actions] for g in parser._action_groups}
    assert groups.pop('options') == ['--help']          # argparse's own group holds nothing of ours
    flags = [f for fs in groups.values() for f in fs]
    assert len(flags) == len(set(flags)) == 70 and '--max-bad-fraction' in groups['bad input']
    assert '--padding' in groups['model']
    assert {'--warmup-lr', '--epoch-images'} <= set(groups['training schedule'])
    init = next(fs for title, fs in groups.items() if title.startswith('initialisation'))
    assert init == ['--no-zero-init-residual', '--head-init', '--weight-decay', '--no-bn-weight-decay', '--bn-momentum']
    augment = next(fs for title, fs in groups.items() if title.startswith('training augmentation'))
    assert augment == ['--crop-area', '--hflip', '--color-jitter', '--lighting']
    assert groups['settings file'] == ['--config']
    recipe = next(fs for title, fs in groups.items() if title.startswith('recipe'))
    assert {'--mixup', '--cutmix', '--loss', '--ema', '--sample-loss', '--lr-schedule'} <= set(recipe)
    assert groups['evaluation'] == ['--tta', '--save-probs', '--no-ema', '--topk', '--eval-transform']
    assert groups['what to do (default: train)'] == ['--eval', '--predict', '--export', '--fake']


@pytest.mark.parametrize('flags,message', [
    (['--batch', 30, '--gpu', '0,1,2,3'], r'--batch 30 does not split evenly across 4 towers .* e\.g\. 28 or 32'),
    (['--mode', 'resnext', '-d', 18], '--mode resnext needs -d 50, 101 or 152'),
    (['--finetune'], '--finetune needs --load WEIGHTS'),
    (['--eval'], '--eval needs --load CKPT'),
    (['--gpu', '0,x'], "--gpu '0,x': expected comma-separated integers"),
    (['--epochs', 0], '--epochs must be positive, got 0'),
    (['--max-bad-fraction', 1], r'--max-bad-fraction must be in \[0, 1\), got 1.0'),
    (['--hosts', 'a:1,b:2'], '--hosts needs --task-index'),
    (['--hosts', '127.0.0.1:1', '--task-index', 1], 'task index 1 is outside the 1 workers'),
    (['--hosts', 'nohost', '--task-index', 0], "'nohost' is not HOST:PORT"),
    (['--hosts', 'a:1,b:2', '--task-index', 0, '--gpu', '0,1'], 'one process per GPU'),
    (['--task-index', 0], '--task-index needs --hosts'),
    (['--epoch-images', 0], '--epoch-images must be positive, got 0'),
    (['--warmup-lr', -0.1], '--warmup-epochs and --warmup-lr must be 0 or more'),
    (['--crop-area', 0, 1], '--crop-area 0.0 1.0: expected 0 < LO <= HI <= 1'),
    (['--crop-area', 0.5, 0.4], '--crop-area 0.5 0.4: expected'),
    (['--hflip', 1.5], r'--hflip must be in \[0, 1\], got 1.5'),
    (['--color-jitter', 'nan'], '--color-jitter must be in'),
    (['--lighting', -1], r'--lighting must be in \[0, 10\], got -1.0'),
    (['--bn-momentum', 0], r'--bn-momentum must be in \(0, 1\)'),
    (['--hosts', 'a:1,b:2', '--task-index', 0, '--eval', '--load', 'x'], '--eval, --predict and --export run on one machine'),
])
def test_inconsistent_flags_are_refused_naming_them(driver, flags, message):
    with pytest.raises((driver.UsageError, FlagError), match=message):
        driver.check_args(parse(driver, *flags))


def test_a_flag_out_of_range_ends_the_command_with_status_2(driver, capsys):
    with pytest.raises(SystemExit) as e:
        driver.run_command(['--fake', '--color-jitter', '2'])
    assert e.value.code == 2 and 'error: --color-jitter must be in [0, 1], got 2.0' in capsys.readouterr().err


def test_an_epoch_is_one_pass_over_the_training_list_unless_told(driver, tmp_path):
    meta = tmp_path / 'meta'
    meta.mkdir()
    (meta / 'train.txt').write_text(''.join('a/{}.jpg 0\n'.format(i) for i in range(100)) + '\n  \n')
    (meta / 'train_clean.txt').write_text(''.join('a/{}.jpg 0\n'.format(i) for i in range(70)))
    (meta / 'train_google.txt').write_text(''.join('a/{}.jpg 0\n'.format(i) for i in range(64)))

    def steps(*flags):
        return driver.steps_per_epoch(parse(driver, '--data', tmp_path, *flags), str(tmp_path), 32)
    assert steps() == 100 // 32                                        # blank lines are no images
    assert steps('--train-list', 'train_clean') == 70 // 32 and steps('--source', 'google') == 2
    assert steps('--epoch-images', 1280000) == 40000                   # the original's epoch
    assert steps('--epoch-images', 10) == 1 and steps('--steps-per-epoch', 7) == 7
    assert driver.steps_per_epoch(parse(driver, '--fake'), None, 256) == 5000      # no list: ImageNet's
    from webvision.core.errors import InputError
    with pytest.raises(InputError, match='train_flickr.txt: file list is missing'):
        steps('--source', 'flickr')
    (meta / 'train_flickr.txt').mkdir()
    with pytest.raises(InputError, match='train_flickr.txt'):
        steps('--source', 'flickr')


def test_help_documents_every_flag(driver, capsys):
    with pytest.raises(SystemExit) as e:
        driver.run_command(['--help'])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for flag in ('--data', '--gpu', '--depth', '--mode', '--group-width', '--data-format', '--batch', '--lr',
                 '--warmup-epochs', '--epochs', '--steps-per-epoch', '--image-size', '--logdir', '--load',
                 '--keep', '--workers', '--threads', '--eval', '--predictions', '--fake', '--no-val', '--source',
                 '--predict', '--export', '--finetune', '--trunk-lr-mult', '--balance', '--format', '--hosts',
                 '--task-index', '--collective-timeout', '--max-image-pixels', '--max-bad-fraction', '--debug',
                 '--lr-schedule', '--label-smoothing', '--mixup', '--cutmix', '--mix-prob', '--mix-mode',
                 '--mix-off-epoch', '--loss', '--gce-q', '--sce-alpha', '--sce-beta', '--bootstrap-beta',
                 '--bootstrap-hard', '--ema', '--sample-loss', '--train-list', '--tta', '--save-probs', '--no-ema'):
        assert flag in out, flag


def test_a_refused_flag_ends_the_command_with_status_2_and_its_message(driver, capsys):
    with pytest.raises(SystemExit) as e:
        driver.run_command(['--mode', 'resnext', '-d', '18', '--fake'])
    assert e.value.code == 2 and 'error: --mode resnext needs -d 50, 101 or 152' in capsys.readouterr().err


def test_a_logdir_that_is_a_file_or_fifo_is_refused(driver, tmp_path):
    from webvision.core.errors import InputError
    (tmp_path / 'file').write_text('')
    os.mkfifo(str(tmp_path / 'fifo'))
    for name, kind in (('file', 'a regular file'), ('fifo', 'a FIFO')):
        with pytest.raises(InputError, match='--logdir {}: is {}, expected a folder'.format(tmp_path / name, kind)):
            driver.make_run(parse(driver, '--fake', '--logdir', tmp_path / name))


def test_run_is_derived_once_and_frozen(driver, tmp_path):
    run = driver.make_run(parse(driver, '--fake', '--batch', 64, '-d', 18))
    assert (run.towers, run.per_tower, run.global_batch, run.cluster) == (1, 64, 64, None)
    assert run.base_lr == pytest.approx(0.1 * 64 / 256) and run.steps_per_epoch == 1280000 // 64
    assert run.logdir == os.path.join('train_log', 'resnet-d18-fake') and run.data is None
    assert run.data_format == 'NHWC' and run.is_chief and run.shard is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.base_lr = 1.
    np.savez(str(tmp_path / 'x.npz'), **{'linear/b': np.zeros(3, np.float32)})
    run = driver.make_run(parse(driver, '--export', tmp_path, '--load', tmp_path / 'x.npz', '--data-format', 'NCHW',
                                '--mode', 'resnext', '-d', 50, '--group-width', 8, '--lr', 0.3))
    assert run.data_format == 'NHWC' and run.logdir is None and run.base_lr == 0.3    # exports run anywhere
    run = driver.make_run(parse(driver, '--fake', '--mode', 'resnext', '-d', 101, '--group-width', 48,
                                '--steps-per-epoch', 7))
    assert run.logdir.endswith('resnext32x48d-d101-fake') and run.steps_per_epoch == 7


def test_model_options_are_given_at_construction(driver):
    run = driver.make_run(parse(driver, '--fake', '-d', 18, '--trunk-lr-mult', 0.1, '--image-size', 96))
    model = make_model(run, 12)
    assert (model.num_classes, model.image_size, model.trunk_lr_mult) == (12, 96, 0.1)
    assert not model.color_augment and not model.float16_loss_scaling      # --fake: no augmentation, CPU
    assert model.padding == 'symmetric'
    model = make_model(driver.make_run(parse(driver, '--fake', '-d', 50, '--padding', 'same')), 12)
    assert model.padding == 'same' and 'padding' in driver.MODEL_FLAGS     # --eval of a run takes it from its config


def test_the_evaluation_transform_comes_with_the_weights_unless_a_flag_says(driver, tmp_path, monkeypatch):
    from webvision.data import transform as tr
    npz = str(tmp_path / 'tv.npz')
    np.savez(npz, **{'linear/b': np.zeros(3, np.float32)}, **tr.npz_entry(tr.TORCHVISION))
    run = driver.make_run(parse(driver, '--predict', 'a.jpg', '--load', npz, '--image-size', 112))
    assert run.load == npz and run.transform == tr.TORCHVISION
    assert run.transform.at_size(112) == tr.Transform('torchvision', resize=128, crop=112)
    run = driver.make_run(parse(driver, '--predict', 'a.jpg', '--load', npz, '--eval-transform', 'toolkit'))
    assert run.transform == tr.TOOLKIT
    logdir = tmp_path / 'run'                                  # resuming a fine-tuned run without --load
    logdir.mkdir()
    tr.write_record(str(logdir), tr.TORCHVISION)
    run = driver.make_run(parse(driver, '--fake', '--logdir', logdir))
    assert run.transform == tr.TORCHVISION
    with pytest.raises(WeightsError, match='nothere.npz: no such file'):
        driver.make_run(parse(driver, '--predict', 'a.jpg', '--load', tmp_path / 'nothere.npz'))


def test_predict_without_data_takes_the_names_of_the_built_demo_set(driver, tmp_path, monkeypatch):
    import webvision.data.demo
    npz = str(tmp_path / 'w.npz')
    np.savez(npz, **{'linear/b': np.zeros(3, np.float32)})
    monkeypatch.setattr(webvision.data.demo, 'built_demo_root', lambda: '/demo/root')
    assert driver.make_run(parse(driver, '--predict', 'a.jpg', '--load', npz)).data == '/demo/root'
    monkeypatch.setattr(webvision.data.demo, 'built_demo_root', lambda: None)          # never built: no names to take
    assert driver.make_run(parse(driver, '--predict', 'a.jpg', '--load', npz)).data is None
