"""What every command-line entry point shares: argument types and the one-line error report."""
import argparse
import sys
import traceback


def positive_int(text):
    """argparse type: a positive whole number in ASCII digits."""
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError('expected a positive whole number, got {!r}'.format(text))
    return int(text)


def report(error, debug=False):
    """Prints an error in what the user gave as one line (its traceback too with ``debug``); returns 1."""
    if debug:
        traceback.print_exc()
    print('error: {}'.format(error), file=sys.stderr, flush=True)
    return 1
