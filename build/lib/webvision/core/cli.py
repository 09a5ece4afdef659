"""What every command-line entry point shares: argument types and the one-line error report."""
import argparse
import math
import sys
import traceback


def positive_int(text):
    """argparse type: a positive whole number in ASCII digits."""
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError('expected a positive whole number, got {!r}'.format(text))
    return int(text)


def positive_float(text):
    """argparse type: a finite number above 0 (not NaN, not infinity)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected a number, got {!r}'.format(text)) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError('expected a finite number above 0, got {!r}'.format(text))
    return value


def report(error, debug=False):
    """Prints an error in what the user gave as one line (its traceback too with ``debug``); returns 1."""
    if debug:
        traceback.print_exc()
    print('error: {}'.format(error), file=sys.stderr, flush=True)
    return 1
