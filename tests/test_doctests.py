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
NOT_LIBRARY = {"tests", "bench", "docs"}
# Every top-level package and module of the repository that is library code.
PACKAGES = tuple(sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_LIBRARY))
TOP_LEVEL_MODULES = tuple(sorted(p.stem for p in ROOT.glob("*.py") if p.stem != "conftest"))
# ``python -m sampling`` runs the command line on import.
NOT_IMPORTABLE = {"sampling.__main__"}
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    files = {name: ROOT / f"{name}.py" for name in TOP_LEVEL_MODULES}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
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
