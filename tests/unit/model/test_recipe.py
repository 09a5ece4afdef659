"""webvision/model/recipe.py: the recipe flags, their checks and the Recipe the model gets."""
import argparse

import pytest

from webvision.model.recipe import RecipeError, add_recipe_args, check_recipe, recipe_from_args


def parse(*flags, eval_=False):
    p = argparse.ArgumentParser()
    add_recipe_args(p)
    args = p.parse_args(list(flags))
    for name, value in dict(eval=eval_, predict=None, export=None, fake=False, source='all', format='files').items():
        setattr(args, name, value)
    return args


@pytest.mark.parametrize('flags, message', [
    (['--label-smoothing', '1'], r'--label-smoothing must be in \[0, 1\)'),
    (['--mixup', '-0.1'], '--mixup must be in'),
    (['--mixup', 'nan'], r'--mixup must be in .* got nan'),
    (['--gce-q', '0', '--loss', 'gce'], r'--gce-q must be in \(0, 1\]'),
    (['--ema', '1'], r'--ema must be in \[0, 1\)'),
    (['--mix-prob', '0.5'], '--mix-prob only applies with --mixup or --cutmix'),
    (['--mixup', '0.2', '--mix-off-epoch', '0'], '--mix-off-epoch must be positive'),
    (['--gce-q', '0.5'], '--gce-q only applies with --loss gce'),
    (['--sce-beta', '0.5', '--loss', 'gce'], '--sce-beta only applies with --loss sce'),
    (['--bootstrap-hard'], '--bootstrap-hard only applies with --loss bootstrap'),
    (['--loss', 'bootstrap', '--label-smoothing', '0.1'], 'use one of them'),
    (['--train-list', '../x'], "--train-list '../x': expected a list name"),
    (['--tta', 'flip'], '--tta only applies with --eval'),
    (['--save-probs', 'p.npy'], '--save-probs only applies with --eval'),
    (['--no-ema'], '--no-ema only applies with --eval, --predict or --export'),
    (['--topk', '3'], '--topk only applies with --predict'),
])
def test_bad_or_misplaced_flags_are_refused_by_name(flags, message):
    with pytest.raises(RecipeError, match=message):
        check_recipe(parse(*flags))


def test_training_flags_are_refused_with_eval_and_eval_flags_checked():
    with pytest.raises(RecipeError, match='--mixup only applies with training'):
        check_recipe(parse('--mixup', '0.2', eval_=True))
    with pytest.raises(RecipeError, match='--loss only applies with training'):
        check_recipe(parse('--loss', 'gce', eval_=True))
    with pytest.raises(RecipeError, match='ending in .npy'):
        check_recipe(parse('--save-probs', 'p.bin', eval_=True))
    check_recipe(parse('--tta', 'crops10', '--save-probs', 'p.npy', '--no-ema', eval_=True))
    predict = parse('--topk', '0')
    predict.predict = ['a.jpg']
    with pytest.raises(RecipeError, match='--topk must be positive, got 0'):
        check_recipe(predict)


def test_recipe_takes_the_papers_defaults_and_the_mixing_end_in_steps():
    args = parse('--mixup', '0.2', '--cutmix', '1', '--mix-mode', 'elem', '--mix-off-epoch', '3', '--loss', 'bootstrap',
                 '--bootstrap-hard', '--sample-loss')
    check_recipe(args)
    r = recipe_from_args(args, steps_per_epoch=100)
    assert (r.mixup, r.cutmix, r.mix_prob, r.mix_per_image, r.mix_until_step) == (0.2, 1.0, 1.0, True, 300)
    assert r.loss_options == dict(bootstrap_hard=True, bootstrap_beta=0.8) and r.sample_loss and r.mixing
    assert recipe_from_args(parse('--loss', 'bootstrap'), 1).loss_options['bootstrap_beta'] == 0.95
    assert recipe_from_args(parse('--loss', 'gce'), 1).loss_options == dict(gce_q=0.7)
    assert recipe_from_args(parse('--loss', 'sce'), 1).loss_options == dict(sce_alpha=0.1, sce_beta=1.0)
    assert not recipe_from_args(parse(), 1).mixing
