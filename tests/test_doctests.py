"""Run the docstring examples of every library module, one test per module.

A module is collected when its source holds a ``>>>`` prompt; the test then requires the doctest
finder to see at least one example there (an example it cannot see is an example nobody runs) and
every example to print what its docstring says. Modules are found by walking the library packages
and the top-level modules that ``pip install .`` installs, so a new module is covered without
editing this file.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rbm", "sampling", "cnn")
TOP_LEVEL_MODULES = ("imagedata", "rundir", "dataparallel", "train")
# ``python -m sampling`` runs the command line on import.
NOT_IMPORTABLE = {"sampling.__main__"}
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    files = {name: ROOT / f"{name}.py" for name in TOP_LEVEL_MODULES}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            name = f"{package}.{path.stem}" if path.stem != "__init__" else package
            files[name] = path
    return sorted(name for name, path in files.items()
                  if name not in NOT_IMPORTABLE and ">>>" in path.read_text(encoding="utf-8"))


MODULES = _modules_with_examples()


def test_library_has_doctests():
    # If this list ever comes back empty, the discovery above broke, not the docstrings.
    assert {"rbm.pretrain", "sampling.boltzmann", "cnn.model"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report: list[str] = []
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{name}: '>>>' in the source but no example the finder runs"
    assert results.failed == 0, "".join(report)
