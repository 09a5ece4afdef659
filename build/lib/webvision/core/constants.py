"""Constants shared across the toolkit, in one home: normalisation, tensor and metric names, limits."""
import numpy as np

# ImageNet's per-channel mean and std (RGB, 0-255): every model here, and torchvision's, uses them.
IMAGE_MEAN_RGB = np.array([0.485, 0.456, 0.406]) * 255.
IMAGE_STD_RGB = np.array([0.229, 0.224, 0.225]) * 255.

# fb.resnet.torch's PCA lighting constants (RGB), reversed to BGR where used.
PCA_EIGVAL = np.asarray([0.2175, 0.0188, 0.0045]) * 255.0
PCA_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009],
                       [-0.5808, -0.0045, -0.8140],
                       [-0.5836, -0.6948, 0.4203]], dtype='float32')

# Tensor names of the model contract (webvision.model.contract.ImageNetModel); predictors and exports use them.
INPUT = 'input'
LABEL = 'label'
PROB = 'prob'
TOP5 = 'top5'
TOP5_PROB = 'top5-prob'
WRONG_TOP = 'wrong-top{}'           # .format(k): 1.0 where the label is not in the top k
TRAIN_ERROR = 'train-error-top{}'   # .format(k): its moving average over training batches (stats.json)
HEAD_PREFIX = 'linear/'             # the classifier head's variables (get_logits' last layer)

# The challenge's four errors, as error_rates() names them, and their names in stats.json and
# TensorBoard (after a "val-" prefix).
ERROR_NAMES = ('Top1', 'Top5', 'Balanced Top1', 'Balanced Top5')
METRIC_KEYS = {'Top1': 'error-top1', 'Top5': 'error-top5',
               'Balanced Top1': 'balanced-error-top1', 'Balanced Top5': 'balanced-error-top5'}
VAL_PREFIX = 'val-'

LABEL_LIMIT = 2 ** 31               # class ids fit int32 (the graph's label type); larger ones are refused

# Pillow's default limit: images above it are refused before decoding (a 1 MB PNG can claim
# 20,000 x 20,000 pixels and cost 1.2 GB decoded, in every loader that meets it).
MAX_IMAGE_PIXELS = 89478485
MAX_IMAGE_BYTES = 256 << 20         # a listed "image" larger than this is refused unread

IMAGES_PER_EPOCH = 1280000          # the original's epoch (ImageNet-sized), so its tables stay comparable

SPLITS = ('train', 'val', 'test')
SOURCES = ('all', 'google', 'flickr')    # WebVision's two crawls; utils/preprocess.py writes a list each

# Choices of the recipe and evaluation flags (webvision.model.recipe), each implemented where named.
LOSSES = ('ce', 'gce', 'sce', 'bootstrap')      # webvision.model.losses
MIX_MODES = ('batch', 'elem')                   # webvision.model.mixing: one lam per batch or per image
LR_SCHEDULES = ('step', 'cosine')               # webvision.train.schedule
TTA_MODES = ('none', 'flip', 'crops10', 'scales')   # webvision.data.decode.TTADecoder
EMA_SUFFIX = '/ExponentialMovingAverage'        # a weight's moving average in checkpoints (TF's name)
SAMPLE_LOSS = 'sample-loss'                     # tensor: each training image's loss against its own label
INDEX = 'index'                                 # input with --sample-loss: each image's line in the list
