#!/usr/bin/env python3
"""Converts a Caffe ResNet / ResNeXt (kaiyuyue/resnext-wsl-caffe's WSL ResNeXt-101 32x8d..32x48d)
into the .npz that ``imagenet-resnet.py --load`` reads, without Caffe.

  webvision-convert-caffe MODEL.prototxt MODEL.caffemodel OUT.npz   (or: python3 utils/convert_caffe.py ...)

The prototxt gives the topology (its layers are numbered by order: the blocks are found from it,
webvision/weights/caffe_resnet.py), the .caffemodel the weights, read one layer at a time from a
memory map (3.3 GB for 32x48d). The .npz records ``--padding caffe`` (Caffe's stem max-pool) and
the caffe evaluation transform, eval_img.py's (the repository's, which printed its models' top-5):
its centre crop, caffe.io.resize_image to 224 x 224, BGR, mean [103.94, 116.78, 123.68]
subtracted, times 0.017; so ``--predict`` prints what eval_img.py prints.
"""
import argparse
import sys
import time


from webvision.core.errors import InputError
from webvision.core.fileio import check_output
from webvision.data import transform as tr
from webvision.model.archs import TORCHVISION_ARCHS as ARCHS

def get_args_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('prototxt', help='the network (deploy .prototxt)')
    p.add_argument('caffemodel', help='its weights (.caffemodel)')
    p.add_argument('output', help='.npz to write')
    return p


def arch_of(counts, cardinality, sd, path):
    from webvision.commands.convert_torch import ConversionError, infer_arch
    try:
        return infer_arch(sd, path)
    except ConversionError as e:
        raise InputError('{} (stages {}, groups {})'.format(e, '-'.join(map(str, counts)), cardinality)) from None


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    start = time.time()
    try:
        from webvision.weights import caffe, caffe_resnet
        check_output(args.output, 'OUTPUT', [('PROTOTXT', args.prototxt), ('CAFFEMODEL', args.caffemodel)])
        net = caffe.read_prototxt(args.prototxt)
        sd, counts, cardinality, size = caffe_resnet.state_dict(net, args.caffemodel, args.prototxt)
        arch = arch_of(counts, cardinality, sd, args.prototxt)
        depth, mode, group_width = ARCHS[arch]
        from webvision.commands.convert_torch import check_shapes, convert, model_shapes
        weights = convert(sd, depth, args.caffemodel)
        check_shapes(weights, model_shapes(depth, mode, group_width, len(weights['linear/b'])), args.caffemodel)
        from webvision.weights.checkpoints import padding_entry, write_npz
        write_npz(args.output, dict(weights, **tr.npz_entry(tr.CAFFE.at_size(size)), **padding_entry('caffe')))
    except (InputError, OSError, ValueError) as e:       # ConversionError is a ValueError
        print('error: {}'.format(e), file=sys.stderr)
        return 1
    print('Converted {} + {} ({}, {} arrays, {:,} values, {} classes) to {} in {:.1f} s; padding caffe, eval_img.py\'s '
          'transform. Load it with imagenet-resnet.py -d {} --mode {}{} --load {}'.format(
              args.prototxt, args.caffemodel, arch, len(weights), sum(v.size for v in weights.values()),
              len(weights['linear/b']), args.output, time.time() - start, depth, mode,
              ' --group-width {}'.format(group_width) if mode == 'resnext' else '', args.output))
    return 0


if __name__ == '__main__':
    sys.exit(main())
