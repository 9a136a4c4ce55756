"""Package surfaces: the dimod front imports without torch; the packages export their public names."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DIMOD_ONLY_USER = """
import sys
import dimod
import sampling
from sampling import BoltzmannSampler, ResilientSampler, make_sampler, estimate_beta
from sampling.cli import build_parser
bqm = dimod.BinaryQuadraticModel({"a": 0.5}, {("a", "b"): -1.0}, 0.0, "SPIN")
# the default (auto: exact here), sa, exact and tree need no torch; gibbs and pt run on the
# torch engine (sampling/torch_engine.py) and import it when they are called
for method in ("auto", "sa", "exact", "tree"):
    ss = BoltzmannSampler().sample(bqm, beta=1.0, num_reads=20, method=method, seed=0)
    assert len(ss) == 20
build_parser()
print("torch imported:", "torch" in sys.modules)
"""


def test_the_dimod_front_does_not_import_torch():
    proc = subprocess.run([sys.executable, "-c", DIMOD_ONLY_USER], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "torch imported: False", proc.stdout + proc.stderr


def test_every_registered_sampler_class_is_exported():
    import sampling
    from sampling.registry import _REGISTRY

    for name in sampling.available_samplers():
        cls = _REGISTRY[name].resolve()
        assert getattr(sampling, cls.__name__) is cls, name
        assert cls.__name__ in sampling.__all__
    for name in sampling.__all__:
        assert getattr(sampling, name) is not None
    assert sampling.bqm_io.read_bqm  # submodules stay reachable as attributes
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchSampler'"):
        sampling.NoSuchSampler  # noqa: B018 (the attribute access is the test)


def test_rbm_exports_the_pretraining_loop():
    import rbm
    import rbm.pretrain

    assert rbm.pretrain_layer is rbm.pretrain.pretrain_layer
    assert rbm.PretrainConfig is rbm.pretrain.PretrainConfig
    assert {"pretrain_layer", "PretrainConfig"} <= set(rbm.__all__)
