"""torchvision's standard evaluation transform: the real one (torchvision 0.29.1, requirements-ref.txt,
which make test installs) and a re-derivation step by step from its source, kept for where torchvision
cannot run and itself checked against the real one (tests/unit/data/test_transform.py):

  datasets.folder.pil_loader        Image.open(f).convert('RGB')
  transforms.Resize(256)            functional.resize -> _compute_resized_output_size (int() of the
                                    longer side; returns the image itself when the size is unchanged)
                                    -> _functional_pil.resize: img.resize((w, h), BILINEAR)
  transforms.CenterCrop(224)        functional.center_crop: zero padding (left/top get the smaller
                                    half) when the image is smaller, then int(round((H - h) / 2.))
                                    offsets -> _functional_pil.crop: img.crop((l, t, l + w, t + h))
  transforms.ToTensor()             float32 CHW / 255
  transforms.Normalize(mean, std)   (x - mean) / std per channel
"""
import io

import numpy as np
from PIL import Image, ImageOps

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def pil_loader(data):
    return Image.open(io.BytesIO(data)).convert('RGB')


def compute_resized_output_size(image_size, size):
    h, w = image_size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    return [new_h, new_w]


def resize(img, size, interpolation=Image.BILINEAR):
    image_width, image_height = img.size
    output_size = compute_resized_output_size((image_height, image_width), size)
    if [image_height, image_width] == output_size:
        return img
    return img.resize(tuple(output_size[::-1]), interpolation)


def center_crop(img, output_size):
    image_width, image_height = img.size
    crop_height, crop_width = output_size, output_size
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = ImageOps.expand(img, border=tuple(padding_ltrb), fill=(0, 0, 0))
        image_width, image_height = img.size
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.))
    crop_left = int(round((image_width - crop_width) / 2.))
    return img.crop((crop_left, crop_top, crop_left + crop_width, crop_top + crop_height))


def to_tensor(img):
    return np.asarray(img, np.uint8).transpose(2, 0, 1).astype(np.float32) / 255.


def normalize(x, mean=MEAN, std=STD):
    return (x - np.asarray(mean, np.float32)[:, None, None]) / np.asarray(std, np.float32)[:, None, None]


def eval_transform(data, resize_to=256, crop=224, interpolation=Image.BILINEAR):
    """Compose([Resize(resize_to), CenterCrop(crop), ToTensor(), Normalize(MEAN, STD)]) of an encoded
    image: float32 [3, crop, crop], RGB; torchvision's own where it imports."""
    transforms = real_transforms()
    if transforms is None:
        return normalize(to_tensor(center_crop(resize(pil_loader(data), resize_to, interpolation), crop)))
    mode = {Image.BILINEAR: transforms.InterpolationMode.BILINEAR, Image.BICUBIC: transforms.InterpolationMode.BICUBIC}
    t = transforms.Compose([transforms.Resize(resize_to, mode[interpolation]), transforms.CenterCrop(crop),
                            transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    return t(pil_loader(data)).numpy()


def pixels(x):
    """The 0-255 RGB HWC pixels a normalised [3, H, W] tensor came from (floats)."""
    return (x * np.asarray(STD, np.float32)[:, None, None] + np.asarray(MEAN, np.float32)[:, None, None]).transpose(
        1, 2, 0) * 255.


def real_transforms():
    """torchvision.transforms, or None where torchvision does not import."""
    try:
        import torchvision.transforms as transforms
    except ImportError:
        return None
    return transforms


def crop_pixels(data, resize_to=256, crop=224, interpolation=Image.BILINEAR, real=True):
    """RGB uint8 [crop, crop, 3]: Resize(resize_to) then CenterCrop(crop) of the image as torchvision's
    ImageFolder loads it; by torchvision itself where it imports (and ``real``), else re-derived."""
    img = pil_loader(data)
    transforms = real_transforms() if real else None
    if transforms is None:
        return np.asarray(center_crop(resize(img, resize_to, interpolation), crop))
    mode = {Image.BILINEAR: transforms.InterpolationMode.BILINEAR, Image.BICUBIC: transforms.InterpolationMode.BICUBIC}
    t = transforms.Compose([transforms.Resize(resize_to, mode[interpolation]), transforms.CenterCrop(crop)])
    return np.asarray(t(img))
