"""Reading and writing problem files (BQMs) and sample files for ``python -m sampling``.

Problem files, chosen by their first bytes and extension:

dimod's binary format (starts with the magic ``DIMODBQM``; extension ``.bqm`` by convention)
    ``bqm.to_file()`` written to disk, read back with ``dimod.BinaryQuadraticModel.from_file``.
    Recognised by the magic whatever the extension; a ``.bqm`` file without it is an error.
``.json``
    dimod's serialisation: ``json.dump(bqm.to_serializable(), f)``, read back with
    ``dimod.BinaryQuadraticModel.from_serializable``. Keeps any labels and the vartype.
anything else (e.g. ``.coo``, ``.txt``)
    COO text, one term per line::

        # comments start with '#'; blank lines are ignored
        vartype SPIN        # optional, SPIN or BINARY; default BINARY (a QUBO)
        offset 0.5          # optional constant
        0 -1.0              # linear term:    label value
        0 1 2.5             # quadratic term: label label value
        a b -1              # labels: integers, or words without spaces or '#'

    Repeated terms are summed. ``i i value`` is a linear term in a BINARY model (x² = x); after
    ``vartype SPIN`` it is an error (s² = 1 is a constant: write ``offset``). The words ``vartype``
    and ``offset`` cannot be used as labels of linear terms.

    Files written by ``dimod.serialization.coo.dump(bqm, f, vartype_header=True)`` are read too:
    their header comment ``# vartype=SPIN`` (or ``BINARY``; dimod's pattern: a comment line
    ``# ... vartype=X`` or ``vartype:X``) declares the vartype, and, as in dimod, ``i i value`` is then a
    linear term in both vartypes.

The vartype is never guessed: a file declares it (dimod header or ``vartype`` line in COO text, the
JSON and binary formats always), or the caller passes it (``read_bqm(path, vartype=...)``, the
CLI's ``--vartype``), or it is BINARY. Two declarations that disagree (in the file, or the file's
and the caller's) are a :class:`ProblemFileError`.

Sample files, chosen by extension (rows are expanded by ``num_occurrences``: one row per sample):

``.npz``
    ``samples`` (N, n) int8, ``energies`` (N,) float64, ``variables`` (n,) (int64 if every label
    is an integer, else the labels as strings), ``vartype`` and, when known, ``beta``.
``.csv``
    a header of the variable labels followed by ``energy``, then one sample per row.
``.json``
    ``dimod.SampleSet.to_serializable()`` (keeps labels, vartype, info).

Every problem with a file raises :class:`ProblemFileError` (a ``ValueError``) whose message names
the file and, for text formats, the line. Writers write to a temporary file beside the target and
rename it at the end, so no partial file is ever left behind.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Hashable, Sequence
from typing import IO, Any

import dimod
import numpy as np

from sampling.bqm import column_order, in_variable_order
from sampling.errors import SamplingError

__all__ = [
    "BQM_MAGIC",
    "SAMPLE_FORMATS",
    "ProblemFileError",
    "check_output_path",
    "format_coo",
    "parse_coo",
    "read_bqm",
    "read_samples",
    "write_bqm",
    "write_samples",
]

#: Extensions of sample files that :func:`write_samples` writes.
SAMPLE_FORMATS = (".npz", ".csv", ".json")

_INT = re.compile(r"[+-]?\d+\Z")
_KEYWORDS = ("vartype", "offset")
#: dimod's COO vartype header (``dimod.serialization.coo._VARTYPE_HEADER_REGEX``), on a comment.
_DIMOD_HEADER = re.compile(r"#.*?vartype[:=][ \t]*([-_.a-zA-Z0-9]+)")
#: First bytes of ``BinaryQuadraticModel.to_file()`` (``dimod.binary.binary_quadratic_model``).
BQM_MAGIC = b"DIMODBQM"


class ProblemFileError(SamplingError, ValueError):
    """A problem or sample file cannot be read or written; the message says which and why."""


# --------------------------------------------------------------------------- problems


def read_bqm(
    path: str | os.PathLike, vartype: str | dimod.Vartype | None = None
) -> dimod.BinaryQuadraticModel:
    """Read a BQM from dimod's binary format, ``.json`` or COO text (see the module docstring).

    Args:
        vartype: ``"SPIN"`` or ``"BINARY"`` for a file that does not declare its vartype; a file
            that declares another one is an error. None: the file's, else BINARY.

    Raises:
        ProblemFileError: unreadable or malformed file, or a vartype conflict.
    """
    path = os.fspath(path)
    wanted = _as_vartype(vartype, f"{path}: vartype")
    data = _read_bytes(path)
    if data.startswith(BQM_MAGIC):
        return _check_vartype(_bqm_from_file(data, path), wanted, path)
    if path.lower().endswith(".bqm"):
        raise ProblemFileError(
            f"{path}: not a dimod BQM file (expected the magic {BQM_MAGIC.decode()!r} that "
            f"bqm.to_file() writes, got {data[:8]!r}); use .coo/.txt for COO text"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProblemFileError(f"{path}: not a text file (cannot decode as UTF-8)") from None
    if path.lower().endswith(".json"):
        return _check_vartype(_bqm_from_json(text, path), wanted, path)
    return parse_coo(text, path, vartype=wanted)


def write_bqm(bqm: dimod.BinaryQuadraticModel, path: str | os.PathLike) -> None:
    """Write ``bqm`` as dimod's binary format (``.bqm``), ``.json`` (dimod serialisation) or COO
    text (any other extension)."""
    path = os.fspath(path)
    if path.lower().endswith(".bqm"):
        _atomic_write(path, lambda f: f.write(bqm.to_file().read()))
        return
    if path.lower().endswith(".json"):
        text = json.dumps(bqm.to_serializable())
    else:
        text = format_coo(bqm)
    _atomic_write(path, lambda f: f.write(text.encode()))


def parse_coo(
    text: str, name: str = "<string>", vartype: str | dimod.Vartype | None = None
) -> dimod.BinaryQuadraticModel:
    """Parse COO text (format in the module docstring); ``name`` is used in error messages.

    Args:
        vartype: the vartype for text that declares none; text that declares another is an error.
    """
    wanted = _as_vartype(vartype, f"{name}: vartype")
    declared: list[tuple[dimod.Vartype, int, bool]] = []  # (vartype, line, from dimod's header)
    offset = 0.0
    linear: dict[Hashable, float] = {}
    quadratic: dict[tuple[Hashable, Hashable], float] = {}
    diagonal_line = None

    def declare(word: str, lineno: int, dimod_header: bool) -> None:
        where = f"{name}: line {lineno}"
        if word.upper() not in ("SPIN", "BINARY"):
            raise ProblemFileError(f"{where}: vartype must be SPIN or BINARY, got {word!r}")
        vt = dimod.as_vartype(word.upper())
        for prev, prev_line, prev_dimod in declared:
            if prev is not vt:
                raise ProblemFileError(f"{where}: vartype {vt.name} conflicts with vartype "
                                       f"{prev.name} declared on line {prev_line}")
            if not (dimod_header or prev_dimod):
                raise ProblemFileError(f"{where}: vartype given twice")
        declared.append((vt, lineno, dimod_header))

    for lineno, raw in enumerate(text.splitlines(), start=1):
        body, hash_, comment = raw.partition("#")
        where = f"{name}: line {lineno}"
        header = _DIMOD_HEADER.match(hash_ + comment) if hash_ and not body.strip() else None
        if header:
            declare(header.group(1), lineno, dimod_header=True)
        tokens = body.split()
        if not tokens:
            continue
        head = tokens[0].lower()
        if head == "vartype" and len(tokens) == 2:
            declare(tokens[1], lineno, dimod_header=False)
        elif head == "offset" and len(tokens) == 2:
            offset += _number(tokens[1], where)
        elif len(tokens) == 2:
            u = _label(tokens[0])
            linear[u] = linear.get(u, 0.0) + _number(tokens[1], where)
        elif len(tokens) == 3:
            u, v = _label(tokens[0]), _label(tokens[1])
            value = _number(tokens[2], where)
            if u == v:
                linear[u] = linear.get(u, 0.0) + value
                diagonal_line = diagonal_line or where
            else:
                key = (u, v) if (v, u) not in quadratic else (v, u)
                quadratic[key] = quadratic.get(key, 0.0) + value
        else:
            raise ProblemFileError(
                f"{where}: expected 'label value', 'label label value', 'vartype SPIN|BINARY' or "
                f"'offset value', got {raw.strip()!r}"
            )
    vt = declared[0][0] if declared else (wanted or dimod.BINARY)
    if declared and wanted is not None and vt is not wanted:
        raise ProblemFileError(
            f"{name}: the file declares vartype {vt.name} (line {declared[0][1]}) but "
            f"{wanted.name} was requested"
        )
    # dimod's COO writes SPIN fields as 'i i value': under its header (or with no declaration in
    # the file) a diagonal term is linear; only our own 'vartype SPIN' line makes it an error.
    own_line_only = declared and not any(from_dimod for _, _, from_dimod in declared)
    if vt is dimod.SPIN and diagonal_line and own_line_only:
        raise ProblemFileError(
            f"{diagonal_line}: a diagonal term 'i i value' in a SPIN model is a constant (s*s = 1);"
            " write 'i value' for a field or 'offset value' for a constant"
        )
    if not linear and not quadratic:
        raise ProblemFileError(f"{name}: no linear or quadratic terms found")
    bqm = dimod.BinaryQuadraticModel(vt)
    bqm.add_linear_from(linear)
    bqm.add_quadratic_from(quadratic)
    bqm.offset = offset
    return bqm


def format_coo(bqm: dimod.BinaryQuadraticModel) -> str:
    """COO text of ``bqm`` that :func:`parse_coo` reads back exactly (labels: int or plain words).

    Raises:
        ProblemFileError: a label is not an int or a word that reads back as itself.
    """
    for v in bqm.variables:
        if isinstance(v, bool) or not (
            isinstance(v, (int, np.integer))
            or (isinstance(v, str) and v and not _INT.match(v) and v.lower() not in _KEYWORDS
                and not re.search(r"[\s#]", v))
        ):
            raise ProblemFileError(
                f"label {v!r} cannot be written to a COO file (use integers or words without "
                "spaces or '#'); write the problem as .json instead"
            )
    out = [f"vartype {bqm.vartype.name}"]
    if bqm.offset:
        out.append(f"offset {float(bqm.offset)!r}")
    out += [f"{u} {float(b)!r}" for u, b in bqm.linear.items()]
    out += [f"{u} {v} {float(b)!r}" for (u, v), b in bqm.quadratic.items()]
    return "\n".join(out) + "\n"


def _bqm_from_json(text: str, path: str) -> dimod.BinaryQuadraticModel:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemFileError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(obj, dict) or obj.get("type") != "BinaryQuadraticModel":
        raise ProblemFileError(
            f"{path}: not a dimod BQM serialisation (expected an object with "
            "\"type\": \"BinaryQuadraticModel\", as written by bqm.to_serializable())"
        )
    try:
        return dimod.BinaryQuadraticModel.from_serializable(obj)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ProblemFileError(
            f"{path}: malformed dimod BQM serialisation ({type(exc).__name__}: {exc})"
        ) from None


def _bqm_from_file(data: bytes, path: str) -> dimod.BinaryQuadraticModel:
    try:
        return dimod.BinaryQuadraticModel.from_file(data)
    except Exception as exc:  # noqa: BLE001 - dimod raises many kinds on truncated/corrupt data
        raise ProblemFileError(
            f"{path}: malformed dimod BQM file ({type(exc).__name__}: {exc})"
        ) from None


def _as_vartype(vartype: Any, what: str) -> dimod.Vartype | None:
    if vartype is None:
        return None
    if isinstance(vartype, dimod.Vartype):
        return vartype
    if isinstance(vartype, str) and vartype.upper() in ("SPIN", "BINARY"):
        return dimod.as_vartype(vartype.upper())
    raise ProblemFileError(f"{what} must be SPIN or BINARY, got {vartype!r}")


def _check_vartype(
    bqm: dimod.BinaryQuadraticModel, wanted: dimod.Vartype | None, path: str
) -> dimod.BinaryQuadraticModel:
    if wanted is not None and bqm.vartype is not wanted:
        raise ProblemFileError(
            f"{path}: the file declares vartype {bqm.vartype.name} but {wanted.name} was requested"
        )
    return bqm


def _label(token: str) -> Hashable:
    return int(token) if _INT.match(token) else token


def _number(token: str, where: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ProblemFileError(f"{where}: {token!r} is not a number") from None
    if not math.isfinite(value):
        raise ProblemFileError(f"{where}: value {token!r} is not finite")
    return value


def _read_text(path: str) -> str:
    try:
        return _read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise ProblemFileError(f"{path}: not a text file (cannot decode as UTF-8)") from None


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ProblemFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ProblemFileError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise ProblemFileError(f"{path}: cannot read ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------- samples


def check_output_path(path: str | os.PathLike) -> str:
    """Validate a sample-file path before any work is done; return its extension.

    Raises:
        ProblemFileError: unsupported extension, missing or unwritable directory, or a directory
            where the file should be.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in SAMPLE_FORMATS:
        raise ProblemFileError(
            f"{path}: unsupported output extension {ext or '(none)'!r}; use one of "
            f"{', '.join(SAMPLE_FORMATS)}"
        )
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ProblemFileError(f"{path}: is a directory")
    if not os.path.isdir(parent):
        raise ProblemFileError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ProblemFileError(f"{path}: directory {parent} is not writable")
    return ext


def write_samples(
    sampleset: dimod.SampleSet,
    path: str | os.PathLike,
    variables: Sequence[Hashable] | None = None,
) -> None:
    """Write a SampleSet as ``.npz``, ``.csv`` or ``.json`` (by extension; see the module docstring).

    Args:
        variables: column order (default ``sampleset.variables``), e.g. ``bqm.variables``.
    """
    path = os.fspath(path)
    ext = check_output_path(path)
    if ext == ".json":
        if variables is not None and list(variables) != list(sampleset.variables):
            sampleset = in_variable_order(sampleset, variables)
        text = json.dumps(sampleset.to_serializable(), default=_json_default)
        _atomic_write(path, lambda f: f.write(text.encode()))
        return
    variables = list(sampleset.variables if variables is None else variables)
    record = sampleset.record
    reps = np.asarray(record.num_occurrences)
    x = np.repeat(np.asarray(record.sample)[:, column_order(sampleset.variables, variables)], reps,
                  axis=0)
    energies = np.repeat(np.asarray(record.energy, dtype=np.float64), reps)
    if ext == ".npz":
        labels = _label_array(variables)
        extra = {}
        if "beta" in sampleset.info:
            extra["beta"] = np.float64(sampleset.info["beta"])
        _atomic_write(
            path,
            lambda f: np.savez(
                f,
                samples=x.astype(np.int8),
                energies=energies,
                variables=labels,
                vartype=np.str_(sampleset.vartype.name),
                **extra,
            ),
        )
        return

    def write_csv(f: IO[bytes]) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        w = csv.writer(text)
        w.writerow([str(v) for v in variables] + ["energy"])
        for row, e in zip(x.tolist(), energies.tolist(), strict=True):
            w.writerow(row + [repr(e)])
        text.flush()
        text.detach()  # leave f open: _atomic_write closes it

    _atomic_write(path, write_csv)


def read_samples(path: str | os.PathLike) -> dimod.SampleSet:
    """Read a sample file written by :func:`write_samples` back as a SampleSet.

    A ``.csv`` file does not record the vartype: it is SPIN if any value is -1, else BINARY.
    Labels that look like integers come back as ints.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as data:
                labels = [v.item() if isinstance(v, np.generic) else v for v in data["variables"]]
                labels = [_label(v) if isinstance(v, str) else v for v in labels]
                return dimod.SampleSet.from_samples(
                    (data["samples"], labels),
                    vartype=str(data["vartype"]),
                    energy=data["energies"],
                    sort_labels=False,
                )
        if ext == ".json":
            obj = json.loads(_read_text(path))
            ss = dimod.SampleSet.from_serializable(obj)
            # from_serializable sorts sortable labels: restore the written column order
            order = [_as_hashable(v) for v in obj.get("variable_labels", [])]
            if sorted(map(repr, order)) == sorted(map(repr, ss.variables)):
                ss = in_variable_order(ss, order)
            return ss
        if ext == ".csv":
            rows = list(csv.reader(io.StringIO(_read_text(path))))
            header, body = rows[0], rows[1:]
            arr = np.array([[float(t) for t in r] for r in body]).reshape(len(body), len(header))
            x = arr[:, :-1].astype(np.int8)
            vartype = "SPIN" if (x == -1).any() else "BINARY"
            return dimod.SampleSet.from_samples(
                (x, [_label(v) for v in header[:-1]]), vartype=vartype, energy=arr[:, -1],
                sort_labels=False,
            )
    except ProblemFileError:
        raise
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ProblemFileError(f"{path}: cannot read samples ({type(exc).__name__}: {exc})") from None
    raise ProblemFileError(f"{path}: unsupported sample file extension {ext!r}")




def _as_hashable(obj: Any) -> Hashable:
    return tuple(_as_hashable(o) for o in obj) if isinstance(obj, list) else obj


def _label_array(variables: list[Hashable]) -> np.ndarray:
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in variables):
        return np.asarray(variables, dtype=np.int64)
    return np.asarray([str(v) for v in variables], dtype=np.str_)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _atomic_write(path: str, writer: Callable[[IO[bytes]], Any]) -> None:
    """Write via a temporary file in the target directory, renamed into place on success."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as exc:
        raise ProblemFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise ProblemFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
