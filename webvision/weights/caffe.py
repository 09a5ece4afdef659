"""Caffe's two files, read and written without Caffe: the network's text (.prototxt, protobuf's text
format) and its weights (.caffemodel, a binary NetParameter).

The field numbers and defaults are facts of caffe.proto (BVLC/caffe, the copy in
kaiyuyue/resnext-wsl-caffe); only the fields a ResNet/ResNeXt needs are declared, the rest of a
prototxt is skipped. The prototxt is parsed by protobuf's own text-format parser from those
declarations. The .caffemodel is walked by its wire format over a memory map, one layer at a time:
a ResNeXt-101 32x48d's is 3.3 GB, beyond what protobuf parses as one message (2 GB), and each
blob's floats are copied out once (``np.frombuffer`` of the map), never held as Python floats.
"""
import mmap
import os

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from webvision.core.errors import InputError
from webvision.core.fileio import atomic_path, check_input

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {'string': _F.TYPE_STRING, 'bool': _F.TYPE_BOOL, 'uint32': _F.TYPE_UINT32, 'int32': _F.TYPE_INT32,
          'int64': _F.TYPE_INT64, 'float': _F.TYPE_FLOAT, 'enum': _F.TYPE_ENUM, 'message': _F.TYPE_MESSAGE}
# message -> (field, number, type, repeated, default or type name); caffe.proto's numbers.
_MESSAGES = {
    'BlobShape': [('dim', 1, 'int64', True, None)],
    'ConvolutionParameter': [
        ('num_output', 1, 'uint32', False, None), ('bias_term', 2, 'bool', False, 'true'),
        ('pad', 3, 'uint32', True, None), ('kernel_size', 4, 'uint32', True, None),
        ('group', 5, 'uint32', False, '1'), ('stride', 6, 'uint32', True, None),
        ('pad_h', 9, 'uint32', False, None), ('pad_w', 10, 'uint32', False, None),
        ('kernel_h', 11, 'uint32', False, None), ('kernel_w', 12, 'uint32', False, None),
        ('stride_h', 13, 'uint32', False, None), ('stride_w', 14, 'uint32', False, None),
        ('dilation', 18, 'uint32', True, None)],
    'BatchNormParameter': [('use_global_stats', 1, 'bool', False, None), ('eps', 3, 'float', False, '1e-05')],
    'ScaleParameter': [('axis', 1, 'int32', False, '1'), ('bias_term', 4, 'bool', False, 'false')],
    'PoolingParameter': [
        ('pool', 1, 'enum', False, '.caffe.PoolingParameter.PoolMethod'), ('kernel_size', 2, 'uint32', False, None),
        ('stride', 3, 'uint32', False, '1'), ('pad', 4, 'uint32', False, '0'),
        ('kernel_h', 5, 'uint32', False, None), ('kernel_w', 6, 'uint32', False, None),
        ('stride_h', 7, 'uint32', False, None), ('stride_w', 8, 'uint32', False, None),
        ('pad_h', 9, 'uint32', False, None), ('pad_w', 10, 'uint32', False, None),
        ('global_pooling', 12, 'bool', False, 'false'), ('round_mode', 13, 'enum', False, '.caffe.PoolingParameter.RoundMode')],
    'EltwiseParameter': [('operation', 1, 'enum', False, '.caffe.EltwiseParameter.EltwiseOp'), ('coeff', 2, 'float', True, None)],
    'InnerProductParameter': [('num_output', 1, 'uint32', False, None), ('bias_term', 2, 'bool', False, 'true'),
                              ('axis', 5, 'int32', False, '1'), ('transpose', 6, 'bool', False, 'false')],
    'InputParameter': [('shape', 1, 'message', True, '.caffe.BlobShape')],
    'LayerParameter': [
        ('name', 1, 'string', False, None), ('type', 2, 'string', False, None),
        ('bottom', 3, 'string', True, None), ('top', 4, 'string', True, None),
        ('batch_norm_param', 139, 'message', False, '.caffe.BatchNormParameter'),
        ('convolution_param', 106, 'message', False, '.caffe.ConvolutionParameter'),
        ('eltwise_param', 110, 'message', False, '.caffe.EltwiseParameter'),
        ('inner_product_param', 117, 'message', False, '.caffe.InnerProductParameter'),
        ('input_param', 143, 'message', False, '.caffe.InputParameter'),
        ('pooling_param', 121, 'message', False, '.caffe.PoolingParameter'),
        ('scale_param', 142, 'message', False, '.caffe.ScaleParameter')],
    'NetParameter': [
        ('name', 1, 'string', False, None), ('input', 3, 'string', True, None),
        ('input_dim', 4, 'int32', True, None), ('input_shape', 8, 'message', True, '.caffe.BlobShape'),
        ('layer', 100, 'message', True, '.caffe.LayerParameter')],
}
# message -> its enums (nested, as in caffe.proto: MAX is both a pooling and an eltwise value)
_ENUMS = {'PoolingParameter': {'PoolMethod': ('MAX', 'AVE', 'STOCHASTIC'), 'RoundMode': ('CEIL', 'FLOOR')},
          'EltwiseParameter': {'EltwiseOp': ('PROD', 'SUM', 'MAX')}}
_ENUM_DEFAULTS = {'.caffe.PoolingParameter.PoolMethod': 'MAX', '.caffe.PoolingParameter.RoundMode': 'CEIL',
                  '.caffe.EltwiseParameter.EltwiseOp': 'SUM'}

# the wire format: NetParameter.layer, LayerParameter.name/blobs, BlobProto.shape/data/double_data
# and its legacy num/channels/height/width, BlobShape.dim
NET_LAYER, NET_LAYERS_V1, LAYER_NAME, LAYER_BLOBS = 100, 2, 1, 7
BLOB_SHAPE, BLOB_DATA, BLOB_DOUBLE_DATA, BLOB_LEGACY_DIMS, SHAPE_DIM = 7, 5, 8, (1, 2, 3, 4), 1


class CaffeError(InputError):
    pass


def _file_descriptor():
    f = descriptor_pb2.FileDescriptorProto(name='webvision_caffe_subset.proto', package='caffe', syntax='proto2')
    for name, fields in _MESSAGES.items():
        m = f.message_type.add(name=name)
        for enum, values in _ENUMS.get(name, {}).items():
            e = m.enum_type.add(name=enum)
            for i, v in enumerate(values):
                e.value.add(name=v, number=i)
        for field, number, kind, repeated, extra in fields:
            d = m.field.add(name=field, number=number, type=_TYPES[kind],
                            label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if kind in ('enum', 'message'):
                d.type_name = extra
                if kind == 'enum':
                    d.default_value = _ENUM_DEFAULTS[extra]
            elif extra is not None:
                d.default_value = extra
    return f


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file_descriptor())
NetParameter = message_factory.GetMessageClass(_POOL.FindMessageTypeByName('caffe.NetParameter'))


def read_prototxt(path):
    """The NetParameter of a .prototxt (fields outside the declared subset skipped); CaffeError
    naming the file and protobuf's line:column for text it cannot parse."""
    check_input(path)
    with open(path, 'rb') as f:
        text = f.read().decode('utf-8', 'replace')
    net = NetParameter()
    try:
        text_format.Parse(text, net, allow_unknown_field=True, allow_unknown_extension=True)
    except text_format.ParseError as e:
        raise CaffeError('{}: not a Caffe network text ({})'.format(path, e)) from None
    if not net.layer:
        raise CaffeError('{}: no "layer {{ ... }}" in it (the pre-2015 "layers" format is not read)'.format(path))
    return net


def write_prototxt(path, net):
    with atomic_path(path, suffix='.prototxt') as tmp, open(tmp, 'w') as f:
        f.write(text_format.MessageToString(net))


# --- the .caffemodel's wire format -------------------------------------------------------------

def _varint(buf, pos, end):
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError('a number runs past its message')
        b = buf[pos]
        pos += 1
        value |= (b & 0x7f) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(buf, pos, end):
    """(field number, wire type, value or (start, stop) of a length-delimited one) of a message."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 2:
            n, pos = _varint(buf, pos, end)
            if pos + n > end:
                raise ValueError('field {} runs past its message ({} bytes at offset {})'.format(number, n, pos))
            value, pos = (pos, pos + n), pos + n
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise ValueError('field {} runs past its message'.format(number))
            value, pos = (pos, pos + size), pos + size
        else:
            raise ValueError('wire type {} of field {} at offset {}'.format(wire, number, pos))
        yield number, wire, value


def _blob(buf, start, end):
    """A BlobProto's values as a float32 array of its shape (the legacy num/channels/height/width
    too; float data packed or not, or double data)."""
    shape, legacy, chunks = None, {}, []
    for number, wire, value in _fields(buf, start, end):
        if number == BLOB_SHAPE and wire == 2:
            shape = []
            for n, w, v in _fields(buf, *value):
                if n == SHAPE_DIM and w == 2:       # packed
                    p, stop = v
                    while p < stop:
                        d, p = _varint(buf, p, stop)
                        shape.append(d)
                elif n == SHAPE_DIM and w == 0:
                    shape.append(v)
        elif number in (BLOB_DATA, BLOB_DOUBLE_DATA) and wire in (2, 1, 5):
            dtype = '<f4' if number == BLOB_DATA else '<f8'
            chunks.append(np.frombuffer(buf, dtype, (value[1] - value[0]) // np.dtype(dtype).itemsize, value[0]))
        elif number in BLOB_LEGACY_DIMS and wire == 0:
            legacy[number] = value
    data = np.concatenate(chunks).astype(np.float32) if len(chunks) != 1 else chunks[0].astype(np.float32)
    if shape is None:
        shape = [legacy.get(n, 1) for n in BLOB_LEGACY_DIMS] if legacy else [data.size]
    if int(np.prod(shape, dtype=np.int64)) != data.size:
        raise ValueError('a blob of shape {} holds {} values'.format(shape, data.size))
    return data.reshape(shape)


def read_caffemodel(path, wanted=None):
    """Yields (layer name, [blob arrays]) of each layer of a .caffemodel that has blobs (and whose
    name is in ``wanted`` when given), one layer at a time from a memory map."""
    check_input(path)
    size = os.path.getsize(path)
    if size == 0:
        raise CaffeError('{}: empty'.format(path))
    with open(path, 'rb') as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        try:
            yield from _layers(buf, size, wanted, path)
        except ValueError as e:
            raise CaffeError('{}: not a .caffemodel, or cut short ({})'.format(path, e)) from None


def _layers(buf, size, wanted, path):
    seen = False
    for number, wire, value in _fields(buf, 0, size):
        if number == NET_LAYERS_V1 and wire == 2:
            raise CaffeError('{}: written in the pre-2015 format ("layers"); upgrade it with Caffe\'s '
                             'upgrade_net_proto_binary'.format(path))
        if number != NET_LAYER or wire != 2:
            continue
        seen = True
        name, blobs = None, []
        for n, w, v in _fields(buf, *value):
            if n == LAYER_NAME and w == 2:
                name = bytes(buf[v[0]:v[1]]).decode('utf-8', 'replace')
            elif n == LAYER_BLOBS and w == 2:
                blobs.append(v)
        if blobs and (wanted is None or name in wanted):
            arrays = [_blob(buf, *b) for b in blobs]
            _release(buf, *value)
            yield name, arrays
    if not seen:
        raise CaffeError('{}: no layers in it: not a .caffemodel'.format(path))


def _release(buf, start, stop):
    """Unmaps the pages of a layer whose blobs were copied out: read pages of a file map count in the
    process's resident memory until then, which would hold the model twice (3.3 GB more for 32x48d)."""
    if hasattr(buf, 'madvise') and hasattr(mmap, 'MADV_DONTNEED'):
        first = start - start % mmap.PAGESIZE
        buf.madvise(mmap.MADV_DONTNEED, first, stop - first)


def _key(number, wire):
    return _uvarint((number << 3) | wire)


def _uvarint(value):
    out = bytearray()
    while True:
        b = value & 0x7f
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _delimited(number, payload_size):
    return _key(number, 2) + _uvarint(payload_size)


def _blob_parts(array):
    """The BlobProto of an array: (header bytes, the float32 data to write after them)."""
    a = np.ascontiguousarray(array, dtype='<f4')
    dims = b''.join(_uvarint(d) for d in a.shape)
    shape = _delimited(SHAPE_DIM, len(dims)) + dims
    head = _delimited(BLOB_SHAPE, len(shape)) + shape + _delimited(BLOB_DATA, a.nbytes)
    return head, a


def write_caffemodel(path, layers, name=None):
    """A .caffemodel of (layer name, layer type, [arrays]) as Caffe writes one (a layer's blobs in
    order, float data packed), streamed to the file one blob at a time."""
    with atomic_path(path, suffix='.caffemodel') as tmp, open(tmp, 'wb') as f:
        if name:
            raw = name.encode('utf-8')
            f.write(_delimited(1, len(raw)) + raw)
        for layer, kind, arrays in layers:
            parts = [_blob_parts(a) for a in arrays]
            fixed = b''.join(_delimited(n, len(s)) + s for n, s in ((1, layer.encode('utf-8')), (2, kind.encode('utf-8'))))
            blobs = [(_delimited(LAYER_BLOBS, len(h) + a.nbytes), h, a) for h, a in parts]
            size = len(fixed) + sum(len(k) + len(h) + a.nbytes for k, h, a in blobs)
            f.write(_delimited(NET_LAYER, size) + fixed)
            for k, h, a in blobs:
                f.write(k + h)
                a.tofile(f) if a.nbytes > (1 << 20) else f.write(a.tobytes())
    return path

