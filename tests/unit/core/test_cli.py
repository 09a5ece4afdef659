"""webvision/core/cli.py: argument types and the one-line error report."""
import argparse

import pytest

from webvision.core.cli import positive_int, report
from webvision.core.errors import InputError


@pytest.mark.parametrize('text', ['0', '-3', 'x', '1.5', '\u0663', ''])
def test_positive_int_refuses_what_is_not_a_positive_whole_number(text):
    with pytest.raises(argparse.ArgumentTypeError, match='expected a positive whole number'):
        positive_int(text)


def test_positive_int_and_report(capsys):
    assert positive_int('5000') == 5000
    assert report(InputError('list.txt:3: label 9 is outside [0, 5)')) == 1
    assert capsys.readouterr().err == 'error: list.txt:3: label 9 is outside [0, 5)\n'
