"""Run settings as YAML files: ``--config FILE.yaml`` sets any flag of a command (flags given on the
command line override it), and every training run writes its resolved settings to
LOGDIR/config.yaml, which --eval, --predict and --export of that run, its resumption and the report
read.

A key is a flag's name without the dashes, with - or _ (``lr-schedule`` or ``lr_schedule``); a value
is what the flag takes: a number or a string, true or false for a switch, a list for a flag of
several values. A file is read with yaml.safe_load (plain data only: no tags, nothing constructed),
at most MAX_BYTES; each value is checked by its flag's own type and choices, and an error names the
file and the key.
"""
import argparse
import difflib
import sys

import yaml

from webvision.core.errors import InputError
from webvision.core.fileio import decode_text, open_input, write_atomic

FILE_NAME = 'config.yaml'
MAX_BYTES = 1 << 20
HEADER = ('# The resolved settings of this run, as {} took them (defaults included).\n'
          '# The same run again: {} --config THIS_FILE (flags on the command line override it)\n')


def read_config(path):
    """The mapping a config file holds ({} for an empty file); InputError naming the file and line."""
    with open_input(path, '--config') as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError('--config {}: over {:,} bytes; not a settings file'.format(path, MAX_BYTES))
    try:
        cfg = yaml.safe_load(decode_text(path, data))
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        raise InputError('{}{}: not YAML ({})'.format(path, ':{}'.format(mark.line + 1) if mark else '',
                                                      getattr(e, 'problem', None) or e)) from None
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise InputError('{}: expected "flag: value" lines, got a {}'.format(path, type(cfg).__name__))
    return cfg


def _flags(parser):
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in ('help', 'config')}


def config_argv(cfg, parser, path):
    """The command-line tokens ``cfg`` stands for, each value checked by its flag's type and choices."""
    flags, argv = _flags(parser), []
    for key, value in cfg.items():
        dest = str(key).replace('-', '_')
        action = flags.get(dest)
        if action is None:
            close = difflib.get_close_matches(dest, list(flags), 3)
            raise InputError('{}: {!r} is not a flag of this command{}'.format(
                path, key, '; did you mean {}?'.format(', '.join(close)) if close else ''))
        if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
            if not isinstance(value, bool):
                raise InputError('{}: {}: expected true or false, got {!r}'.format(path, key, value))
            if isinstance(action, argparse.BooleanOptionalAction):      # --flag / --no-flag
                argv.append(action.option_strings[0 if value else 1])
            elif value:
                argv.append(action.option_strings[-1])
        elif value is not None:
            argv += [action.option_strings[-1]] + _values(action, key, value, path)
    return argv


def _values(action, key, value, path):
    several = action.nargs in ('+', '*') or isinstance(action.nargs, int)
    values = value if isinstance(value, list) and several else [value]
    if isinstance(action.nargs, int) and len(values) != action.nargs:
        raise InputError('{}: {}: expected a list of {} values, got {!r}'.format(path, key, action.nargs, value))
    out = []
    for v in values:
        if isinstance(v, (dict, list, bool)):
            raise InputError('{}: {}: expected {}, got {!r}'.format(
                path, key, 'a list of values' if several else 'one value', value))
        text = repr(v) if isinstance(v, float) else str(v)
        try:
            converted = action.type(text) if action.type else text
        except (ValueError, TypeError, argparse.ArgumentTypeError) as e:
            raise InputError('{}: {}: {!r} is not valid ({})'.format(path, key, v, e or 'wrong type')) from None
        if action.choices is not None and converted not in action.choices:
            raise InputError('{}: {}: {!r} is not one of {}'.format(
                path, key, v, ', '.join(map(str, action.choices))))
        out.append(text)
    return out


def parse_args(parser, argv=None):
    """``parser.parse_args`` with ``-c/--config FILE`` read first: the file's settings, then the
    command line, so that a flag given there wins. A bad file ends in parser.error (exit 2)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument('-c', '--config')
    known, _ = pre.parse_known_args(argv)
    if known.config:
        try:
            argv = config_argv(read_config(known.config), parser, known.config) + argv
        except InputError as e:
            parser.error(str(e))
    return parser.parse_args(argv)


def add_config_arg(parser):
    parser.add_argument('-c', '--config', metavar='FILE.yaml', help='set any flag from a YAML file of "flag: value" '
                        'lines (flags on the command line override it), e.g. configs/*.yaml or a run\'s LOGDIR/'
                        '{}'.format(FILE_NAME))


def settings(args, **resolved):
    """The flags of ``args`` as a plain mapping (--config dropped), with ``resolved`` values replacing
    those the run derived (a default learning rate, the demo set's path)."""
    out = {k: v for k, v in sorted(vars(args).items()) if k != 'config'}
    out.update(resolved)
    return out


def write_config(path, values, program):
    """LOGDIR/config.yaml: ``values`` (settings()), complete or absent."""
    write_atomic(path, HEADER.format(program, program) + yaml.safe_dump(values, sort_keys=True, default_flow_style=False))


def changed(old, new, keys=None):
    """'key: old -> new' for each setting (of ``keys``, default all) that differs between two mappings."""
    keys = sorted(set(old) | set(new)) if keys is None else keys
    return ['{}: {!r} -> {!r}'.format(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]
