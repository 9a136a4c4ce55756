"""``pip install .`` ships every module, both console scripts and torch pinned exactly.

The distribution is built offline by setuptools from a copy of the source tree (the same
``build_py`` and ``egg_info`` steps a wheel is made of; they need neither network nor the
``wheel`` package, which the Python 3.11 virtual environments of CI lack). What it ships is
compared with what the repository holds, so a new package or top-level module that
``pyproject.toml`` does not list fails here rather than on a user's ``pip install``.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# Top-level folders and files of the repository that are not part of the installed library.
NOT_INSTALLED = {"tests", "bench", "docs", "conftest.py", "setup.py"}
CONSOLE_SCRIPTS = {"annealer-cnn-train": "train:main", "boltzmann-sample": "sampling.cli:main"}


def _library_sources() -> set[str]:
    """Paths (relative to the root) of every file the installed library must hold."""
    found = {p.name for p in ROOT.glob("*.py") if p.name not in NOT_INSTALLED}
    for init in ROOT.glob("*/__init__.py"):
        package = init.parent
        if package.name not in NOT_INSTALLED:
            found |= {str(p.relative_to(ROOT)) for p in package.rglob("*.py")
                      if "__pycache__" not in p.parts}
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Build the distribution from a copy of the tree; returns the folder holding lib/ and egg/."""
    tmp = tmp_path_factory.mktemp("dist")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for rel in _library_sources():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    (tmp / "egg").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q",
         "egg_info", "--egg-base", str(tmp / "egg"), "build_py", "--build-lib", str(tmp / "lib")],
        cwd=src, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp


def _egg_info(built: Path) -> Path:
    (egg,) = (built / "egg").glob("*.egg-info")
    return egg


def test_distribution_holds_every_package_and_module(built):
    shipped = {str(p.relative_to(built / "lib")) for p in (built / "lib").rglob("*.py")}
    expected = _library_sources()
    assert {"train.py", "imagedata/__init__.py", "rundir.py", "dataparallel.py",
            "rbm/__init__.py", "cnn/__init__.py", "sampling/__init__.py",
            "sampling/__main__.py"} <= expected
    assert sorted(expected - shipped) == [], "in the repository but not installed"
    assert sorted(shipped - expected) == [], "installed but not library code"


def test_console_scripts_are_declared_and_answer_help(built, capsys):
    parser = configparser.ConfigParser()
    parser.read(_egg_info(built) / "entry_points.txt")
    assert dict(parser["console_scripts"]) == CONSOLE_SCRIPTS
    for script, target in CONSOLE_SCRIPTS.items():
        module, func = target.split(":")
        main = getattr(importlib.import_module(module), func)
        try:
            code = main(["--help"])
        except SystemExit as exc:  # argparse exits; the console-script wrapper would do the same
            code = exc.code or 0
        out = capsys.readouterr().out
        assert code == 0, script
        assert out.startswith("usage:"), f"{script} --help printed {out[:80]!r}"


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[req.name.lower()] = spec.version
    return pins


def test_dependencies_keep_torch_and_accept_the_pinned_versions(built):
    requires = [Requirement(line) for line in (_egg_info(built) / "requires.txt").read_text()
                .split("\n[")[0].splitlines() if line.strip()]
    by_name = {r.name.lower(): r for r in requires}
    assert str(by_name["torch"].specifier) == "==2.13.0", "pip must never replace the torch wheel"
    pins = _pins()
    for name, req in by_name.items():
        # Dependencies the code imports directly but requirements.txt leaves to dwave-system
        # (networkx, requests) are checked against the installed version.
        version = pins.get(name) or importlib.metadata.version(name)
        assert req.specifier.contains(version), f"{req} rejects {name}=={version}"
    runtime_pins = set(pins) - {"pytest", "dwave-neal"}
    assert sorted(runtime_pins - set(by_name)) == [], "pinned in requirements.txt, not declared"
