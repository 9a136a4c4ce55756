"""MNIST-style IDX files (optionally gzip-compressed): read, write, and the four-file data set."""

from __future__ import annotations

import gzip
import logging
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import DataError

__all__ = ["IDX_FILES", "load_idx_arrays", "read_idx", "write_idx"]

logger = logging.getLogger(__name__)

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

