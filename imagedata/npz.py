"""A NumPy ``.npz`` data set with arrays ``x_train, y_train, x_test, y_test``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["npz_arrays"]


def npz_arrays(file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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

