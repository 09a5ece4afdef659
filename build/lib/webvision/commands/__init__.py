"""The programs: one module per command line, each with get_args_parser() or its parser in main(argv).

Run as console commands (pyproject.toml: webvision-train, webvision-eval, webvision-convert, ...),
from the seed's paths (imagenet-resnet.py, utils/NAME.py), or called in-process by the tests.
Their --help and flag checks never load TensorFlow; what a command does lives in the subpackages.
"""
