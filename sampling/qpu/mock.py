"""An offline QPU stand-in that *samples*: MockDWaveSampler with a Boltzmann substitute.

``dwave.system.testing.MockDWaveSampler`` reproduces a QPU's interface and qubit graph (real
Pegasus/Zephyr topologies) offline, but by default it returns steepest-descent local minima, which
is no Boltzmann sampler. :func:`make_mock_dwave_sampler` gives it a substitute
that draws from ``exp(-β_hw · E_programmed)`` with simulated annealing at a **hidden hardware
inverse temperature** ``β_hw`` (default 3: the mock is three times colder than the programmed
energies say, like a real QPU whose effective temperature is unknown). Everything the real backend
does, embedding, tiling, chains, scaling, clipping, spin-reversal transforms and temperature
calibration, then runs for real without a D-Wave account.

Notes (checked in dwave-system 1.36): MockDWaveSampler forwards *all* sampling keyword arguments
(``annealing_time``, ``auto_scale``, ``answer_mode`` …) to the substitute, mocks only
``num_reads``, ``answer_mode`` and ``label`` (the others warn unless ``parameter_warnings=False``),
applies no auto-scaling and rejects keywords it does not know (``seed`` included). Hence the
substitute here accepts and ignores the QPU keywords, and draws a fresh SA seed from its own seeded
generator on every call (a fixed SA seed would return the same reads on every call).

Examples:
    >>> qpu = make_mock_dwave_sampler(topology="zephyr", shape=(2, 4), hardware_beta=3.0, seed=0)
    >>> qpu.properties["topology"], qpu.properties["j_range"]
    ({'type': 'zephyr', 'shape': [2, 4]}, [-1.0, 1.0])
    >>> q = qpu.nodelist[0]
    >>> ss = qpu.sample_ising({q: 0.2}, {}, num_reads=4000, answer_mode="raw", auto_scale=False)
    >>> frac_up = (ss.record.sample[:, 0] == 1).mean()  # p(+1) = 1 / (1 + exp(2 * 3 * 0.2)) = 0.23
    >>> bool(abs(frac_up - 0.23) < 0.03)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dimod
import numpy as np

from sampling.schedules import sa_parameters

__all__ = [
    "BoltzmannSubstitute",
    "DEFAULT_MOCK_TOPOLOGY",
    "REALISTIC_NOISE",
    "Noise",
    "make_mock_dwave_sampler",
    "mock_from_options",
]

#: Pegasus P6 (a 6×6 unit-cell fragment of an Advantage graph, 680 qubits): big enough for tiles
#: of small RBMs, small enough that minorminer takes well under a second on them.
DEFAULT_MOCK_TOPOLOGY = ("pegasus", (6,))


@dataclass(frozen=True)
class Noise:
    """Non-idealities of a real annealer, in programmed units (all 0: the ideal mock).

    Attributes:
        ice_h, ice_j: standard deviations of the Gaussian *integrated control errors* added to
            every programmed field and coupling, drawn afresh on every call.
        bias_offset: standard deviation of a fixed per-qubit field offset (drawn once per mock
            from its seed: the same qubit is always biased the same way, which spin-reversal
            transforms average out and a temperature cannot).
        beta_drift: standard deviation of ``log β_hw`` from call to call (the hardware
            temperature drifts; each call samples at ``β_hw · exp(N(0, beta_drift²))``).
    """

    ice_h: float = 0.0
    ice_j: float = 0.0
    bias_offset: float = 0.0
    beta_drift: float = 0.0

    def __post_init__(self) -> None:
        for name in ("ice_h", "ice_j", "bias_offset", "beta_drift"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"mock noise {name} must be >= 0, got {getattr(self, name)}")

    @property
    def ideal(self) -> bool:
        return not (self.ice_h or self.ice_j or self.bias_offset or self.beta_drift)


#: Magnitudes of a real D-Wave QPU as this project models them (docs/qpu.md says where from):
#: control errors of 0.05 on h (h_range ±4) and 0.015 on J (j_range ±1), fixed per-qubit
#: offsets of 0.02 and a hardware temperature that varies by 10 % between calls.
REALISTIC_NOISE = {"ice_h": 0.05, "ice_j": 0.015, "bias_offset": 0.02, "beta_drift": 0.1}


class BoltzmannSubstitute(dimod.Sampler):
    """Simulated annealing that ends with ``num_sweeps_hold`` Gibbs sweeps at fixed ``beta``.

    The schedule is ``num_sweeps_anneal`` sweeps geometric from ``beta_start`` to ``beta`` (0 for a
    pure fixed-β chain), then ``num_sweeps_hold`` sweeps at ``beta``, with Gibbs acceptance and
    every variable updated once per sweep (:func:`sampling.schedules.sa_parameters`). Every call draws a new SA
    seed from the generator seeded with ``seed``. QPU-only keyword arguments are ignored.

    Args:
        beta: inverse temperature of the final sweeps (the hidden hardware β).
        num_sweeps_hold, num_sweeps_anneal, beta_start: schedule (see above); ``beta_start``
            defaults to ``beta / 10``.
        seed: seed of the per-call seed stream.
    """

    _SA_KEYS = ("num_reads", "initial_states", "initial_states_generator")

    def __init__(
        self,
        beta: float = 3.0,
        *,
        num_sweeps_hold: int = 200,
        num_sweeps_anneal: int = 100,
        beta_start: float | None = None,
        seed: int | None = None,
        noise: Noise | None = None,
    ):
        from dwave.samplers import SimulatedAnnealingSampler

        if not beta > 0:
            raise ValueError(f"mock hardware beta must be positive, got {beta}")
        if num_sweeps_hold < 1 or num_sweeps_anneal < 0:
            raise ValueError("need num_sweeps_hold >= 1 and num_sweeps_anneal >= 0")
        self.beta = float(beta)
        start = self.beta / 10 if beta_start is None else float(beta_start)
        ramp = np.geomspace(start, self.beta, num_sweeps_anneal) if num_sweeps_anneal else []
        self.schedule = np.concatenate([ramp, np.full(int(num_sweeps_hold), self.beta)])
        self._sa = SimulatedAnnealingSampler()
        self.rng = np.random.default_rng(seed)
        self.noise = noise or Noise()
        # fixed per-qubit offsets, a function of the qubit label and the seed only
        self._offset_seed = int(np.random.default_rng(seed).integers(2**31 - 1))
        self._offsets = np.zeros(0)
        self.last_beta = self.beta

    @property
    def parameters(self) -> dict[str, list]:
        return {"num_reads": []}

    @property
    def properties(self) -> dict[str, Any]:
        return {"beta": self.beta, "num_sweeps": len(self.schedule)}

    def offsets(self, labels: np.ndarray) -> np.ndarray:
        """The fixed field offsets of integer qubit ``labels`` (shape of ``labels``)."""
        top = int(labels.max(initial=-1)) + 1
        if top > len(self._offsets):
            size = max(top, 2 * len(self._offsets))
            self._offsets = np.random.default_rng(self._offset_seed).normal(
                0.0, 1.0, size)  # same prefix for every size: stable per label
        return self.noise.bias_offset * self._offsets[labels]

    def _perturbed(self, bqm: dimod.BinaryQuadraticModel) -> dimod.BinaryQuadraticModel:
        spin = bqm.spin if bqm.vartype is not dimod.SPIN else bqm
        labels = list(spin.variables)
        h, (r, c, J), off = spin.to_numpy_vectors(variable_order=labels)
        h = h + self.rng.normal(0.0, self.noise.ice_h, len(h)) if self.noise.ice_h else h
        if self.noise.bias_offset:
            h = h + self.offsets(np.asarray(labels, dtype=np.int64))
        J = J + self.rng.normal(0.0, self.noise.ice_j, len(J)) if self.noise.ice_j else J
        out = dimod.BinaryQuadraticModel.from_numpy_vectors(h, (r, c, J), off, dimod.SPIN,
                                                            variable_order=labels)
        return out if bqm.vartype is dimod.SPIN else out.binary

    def sample(self, bqm: dimod.BinaryQuadraticModel, **kwargs) -> dimod.SampleSet:
        sa_kwargs = {k: kwargs[k] for k in self._SA_KEYS if k in kwargs}
        schedule = self.schedule
        if not self.noise.ideal:
            bqm = self._perturbed(bqm)
            factor = math.exp(self.rng.normal(0.0, self.noise.beta_drift)) if self.noise.beta_drift else 1.0
            schedule = schedule * factor
        self.last_beta = float(schedule[-1])
        sa_kwargs.update(sa_parameters(schedule, seed=int(self.rng.integers(2**31 - 1))))
        return self._sa.sample(bqm, **sa_kwargs)


def make_mock_dwave_sampler(
    topology: str = DEFAULT_MOCK_TOPOLOGY[0],
    shape: tuple[int, ...] | None = None,
    *,
    hardware_beta: float = 3.0,
    num_sweeps_hold: int = 200,
    num_sweeps_anneal: int = 100,
    seed: int | None = None,
    properties: dict | None = None,
    noise: Noise | None = None,
):
    """A ``MockDWaveSampler`` on a real topology that samples ``exp(-hardware_beta · E)``.

    Args:
        topology: ``"pegasus"``, ``"zephyr"`` or ``"chimera"``.
        shape: topology shape (``(6,)`` for Pegasus P6, ``(4, 4)`` for Zephyr Z4 with t=4, …);
            default Pegasus P6 / Zephyr (2, 4) / Chimera (4, 4, 4).
        hardware_beta: the hidden inverse temperature the samples follow at unit programmed scale.
        num_sweeps_hold, num_sweeps_anneal: substitute schedule (see :class:`BoltzmannSubstitute`).
        seed: seed of the substitute's per-call seeds.
        properties: overrides of the mock's properties (e.g. ``{"h_range": [-2, 2]}``).
        noise: the non-idealities (:class:`Noise`, e.g. ``Noise(**REALISTIC_NOISE)``); default
            none.
    """
    from dwave.system.testing import MockDWaveSampler

    defaults = {"pegasus": (6,), "zephyr": (2, 4), "chimera": (4, 4, 4)}
    if topology not in defaults:
        raise ValueError(f"mock topology must be one of {sorted(defaults)}, got {topology!r}")
    shape = defaults[topology] if shape is None else tuple(int(s) for s in shape)
    substitute = BoltzmannSubstitute(
        hardware_beta,
        num_sweeps_hold=num_sweeps_hold,
        num_sweeps_anneal=num_sweeps_anneal,
        seed=seed,
        noise=noise,
    )
    return MockDWaveSampler(
        topology_type=topology,
        topology_shape=list(shape),
        substitute_sampler=substitute,
        parameter_warnings=False,
        properties=properties,
    )


def mock_from_options(options: Any, seed: int | None = None):
    """:func:`make_mock_dwave_sampler` from a :class:`~sampling.qpu.options.MockOptions`."""
    return make_mock_dwave_sampler(
        options.topology, options.shape, hardware_beta=options.hardware_beta,
        num_sweeps_hold=options.num_sweeps_hold, num_sweeps_anneal=options.num_sweeps_anneal,
        seed=seed, properties=dict(options.mock_properties or {}) or None,
        noise=Noise(options.ice_h, options.ice_j, options.bias_offset, options.beta_drift),
    )
