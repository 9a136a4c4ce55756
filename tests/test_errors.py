"""One base exception per package: every exception class a package defines subclasses it
(issue 15), and keeps the built-in base callers already catch."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import cnn
import imagedata
import rbm
import sampling

BASES = [(rbm, rbm.RBMError), (sampling, sampling.SamplingError), (cnn, cnn.CNNError),
         (imagedata, imagedata.DataError)]


def _defined_exceptions(package):
    found = []
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (issubclass(obj, BaseException) and not issubclass(obj, Warning)  # warnings are not errors
                    and obj.__module__ == module.__name__):
                found.append(obj)
    return found


@pytest.mark.parametrize(("package", "base"), BASES, ids=lambda p: getattr(p, "__name__", ""))
def test_every_exception_class_of_a_package_subclasses_its_base(package, base):
    classes = _defined_exceptions(package)
    assert classes, f"no exception classes found in {package.__name__}"
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, base)]
    assert not strays, f"not subclasses of {base.__name__}: {strays}"


def test_former_builtin_bases_are_kept():
    from sampling.bqm_io import ProblemFileError
    from sampling.qpu.errors import QPUSamplingError

    assert issubclass(rbm.DivergenceError, RuntimeError)
    assert issubclass(sampling.SamplerFailure, RuntimeError)
    assert issubclass(sampling.QPUUnavailableError, RuntimeError)
    assert issubclass(QPUSamplingError, RuntimeError)
    assert issubclass(ProblemFileError, ValueError)
    assert issubclass(cnn.ArchitectureMismatchError, ValueError)
