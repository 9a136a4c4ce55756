"""A :class:`dimod.Sampler` that draws Boltzmann samples exp(-β E(x)) / Z of any BQM.

:class:`BoltzmannSampler` is the reusable front of this package: it takes any dimod binary quadratic
model (SPIN or BINARY, any hashable labels, any graph) and a target inverse temperature β, and
returns a :class:`dimod.SampleSet` whose rows are (approximately, for MCMC methods) distributed as
exp(-β E). It composes with Ocean composites (``dimod.TrackingComposite``,
``dwave.preprocessing.SpinReversalTransformComposite``, ...).

Methods (``method=``), each a function registered in :data:`METHODS`:

``"sa"`` (default)
    Simulated annealing with ``dwave.samplers.SimulatedAnnealingSampler`` on a Boltzmann-correct
    schedule: a ramp from ``beta_start`` (default 0.1 β) up to β, then sweeps **at β** (by default
    the last 3/4 of ``num_sweeps``), Gibbs acceptance, every variable once per sweep
    (:func:`sampling.schedules.sa_parameters`). dwave-samplers' default
    ``beta_range`` ends far colder than any useful β (it is an optimiser, DESIGN §3) and is never
    used.
``"gibbs"``
    Single-site Gibbs sampling at fixed β for ``num_sweeps`` sweeps (the same engine with a
    constant schedule). ``initial_states`` (e.g. the previous SampleSet) continues persistent
    chains.
``"exact"``
    i.i.d. samples by enumerating all states (:mod:`sampling.enumeration`); at most
    :data:`~sampling.enumeration.MAX_EXACT_VARIABLES` variables.

``"qpu"``, ``"mock-qpu"``
    The D-Wave pipeline of :mod:`sampling.qpu.front` (registered at the end of this module).

Further methods are added with :func:`register_method`; their keyword options then become
parameters of the sampler automatically.

The SA engine converts BINARY models to SPIN internally; energy differences, hence the Boltzmann
distribution at a given β, are unchanged, and the returned samples and energies are in the
model's own vartype.

Examples:
    >>> import dimod
    >>> bqm = dimod.BinaryQuadraticModel({"a": 0.5}, {("a", "b"): -1.0}, 0.0, "SPIN")
    >>> ss = BoltzmannSampler().sample(bqm, beta=2.0, num_reads=500, num_sweeps=50, seed=1)
    >>> len(ss), ss.info["method"], ss.info["beta"]
    (500, 'sa', 2.0)
    >>> list(ss.variables) == list(bqm.variables)
    True
"""

from __future__ import annotations

import inspect
import time
import warnings
from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import dimod
import numpy as np
from dimod.exceptions import SamplerUnknownArgWarning

from sampling.enumeration import MAX_EXACT_VARIABLES, exact_sample
from sampling.qpu.front import sample_mock_qpu_method, sample_qpu_method
from sampling.schedules import SCHEDULES, beta_schedule, sa_parameters

__all__ = [
    "DEFAULT_NUM_READS",
    "METHODS",
    "BoltzmannSampler",
    "SamplerArgumentError",
    "method_options",
    "register_method",
    "sa_schedule",
]

#: Reads drawn when neither ``num_reads`` nor ``initial_states`` is given.
DEFAULT_NUM_READS = 100

#: A sampling method: ``fn(bqm, beta, num_reads, seed, **options) -> dimod.SampleSet``. It must
#: return one row per read with energies of ``bqm`` in ``bqm``'s vartype; ``BoltzmannSampler``
#: reorders columns, validates common arguments and fills ``info``.
MethodFn = Callable[..., dimod.SampleSet]

#: Registered methods, name → function. Add to it with :func:`register_method`.
METHODS: dict[str, MethodFn] = {}

_COMMON = ("beta", "num_reads", "method", "seed")


class SamplerArgumentError(ValueError):
    """A user-supplied argument is invalid (β, num_reads, method, problem too large, ...)."""


def register_method(name: str, fn: MethodFn, *, replace: bool = False) -> MethodFn:
    """Register ``fn`` as ``BoltzmannSampler`` method ``name`` and return it.

    ``fn(bqm, beta, num_reads, seed, **options)`` receives a validated β > 0, an int
    ``num_reads`` ≥ 1 and ``seed`` (int or None). Its keyword ``options`` (the parameters after the
    first four in its signature) become entries of ``BoltzmannSampler().parameters``; options meant
    for other methods are dropped with a :class:`dimod.exceptions.SamplerUnknownArgWarning`.

    Example (another package)::

        register_method("mock-qpu", sample_mock_qpu)   # def sample_mock_qpu(bqm, beta, num_reads,
                                                       #     seed, *, chain_strength=None): ...
    """
    if not callable(fn):
        raise TypeError(f"method {name!r} must be callable, got {type(fn).__name__}")
    if name in METHODS and not replace:
        raise ValueError(f"method {name!r} is already registered (pass replace=True)")
    METHODS[name] = fn
    return fn


def method_options(name: str) -> tuple[str, ...] | None:
    """Keyword options that method ``name`` accepts (None: it takes any keyword)."""
    if name not in METHODS:
        raise SamplerArgumentError(
            f"unknown method {name!r}; expected one of {', '.join(sorted(METHODS))}"
        )
    names, takes_any = _options_of(METHODS[name])
    return None if takes_any else names


def _options_of(fn: MethodFn) -> tuple[tuple[str, ...], bool]:
    """Keyword options of a method function, and whether it takes ``**kwargs``."""
    params = list(inspect.signature(fn).parameters.values())[4:]
    names = tuple(
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class BoltzmannSampler(dimod.Sampler):
    """Draw samples distributed as exp(-β E(x)) / Z(β) from any binary quadratic model.

    A real :class:`dimod.Sampler`: ``sample_ising`` and ``sample_qubo`` come from the base class,
    and it passes ``dimod.testing.assert_sampler_api``. See the module docstring for the methods.

    Examples:
        >>> import dimod
        >>> sampler = BoltzmannSampler()
        >>> ss = sampler.sample_qubo({("x", "y"): -2.0, ("x", "x"): 1.0}, beta=1.0,
        ...                          method="exact", num_reads=10, seed=0)
        >>> ss.vartype is dimod.BINARY, len(ss)
        (True, 10)
        >>> {"sa", "gibbs", "exact"} <= set(sampler.properties["methods"])
        True
    """

    @property
    def parameters(self) -> dict[str, list]:
        """Keyword arguments of :meth:`sample` (common ones and every registered method's options)."""
        params: dict[str, list] = {name: [] for name in _COMMON}
        params["method"] = ["methods"]
        for fn in METHODS.values():
            for name in _options_of(fn)[0]:
                params.setdefault(name, [])
        return params

    @property
    def properties(self) -> dict[str, Any]:
        """``methods`` (registered names), ``max_exact_variables``, ``schedules``, ``description``."""
        return {
            "methods": tuple(METHODS),
            "max_exact_variables": MAX_EXACT_VARIABLES,
            "schedules": SCHEDULES,
            "description": "Boltzmann samples exp(-beta E) of any BQM (sa, gibbs, exact, ...)",
        }

    def sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        beta: float = 1.0,
        num_reads: int | None = None,
        method: str = "sa",
        seed: int | None = None,
        **options: Any,
    ) -> dimod.SampleSet:
        """Sample ``bqm`` at inverse temperature ``beta``.

        Args:
            bqm: any dimod BQM; β multiplies its energy as given (E in the BQM's own units).
            beta: inverse temperature, > 0 and finite.
            num_reads: number of samples (rows), ≥ 1; default :data:`DEFAULT_NUM_READS`, or the
                number of ``initial_states`` when those are given.
            method: a name in :data:`METHODS` (``"sa"``, ``"gibbs"``, ``"exact"``, ...).
            seed: integer seed in [0, 2³¹) for reproducible draws; None for fresh randomness.
            **options: method options, e.g. for ``"sa"``: ``num_sweeps`` (default 1000),
                ``schedule`` (``"geometric"``, ``"linear"``, ``"fixed"``, ``"quench"`` or an
                explicit β sequence ending at β), ``beta_start``, ``num_sweeps_at_beta``,
                ``initial_states``; for ``"gibbs"``: ``num_sweeps``, ``initial_states``.
                Options of other methods, and unknown ones, are dropped with a
                ``SamplerUnknownArgWarning`` (dimod's convention).

        Returns:
            A :class:`dimod.SampleSet` with one row per read (``num_occurrences`` 1), columns in
            ``bqm.variables`` order, energies of ``bqm`` (offset included), ``bqm.vartype``, and
            ``info`` with ``beta``, ``method``, ``num_reads``, ``seconds`` and method details
            (``num_sweeps``, ``schedule``, ...).

        Raises:
            SamplerArgumentError: β not positive and finite, ``num_reads`` < 1, unknown method,
                bad seed, too many variables for ``"exact"``.
        """
        t0 = time.perf_counter()
        beta = _check_beta(beta)
        if method not in METHODS:
            raise SamplerArgumentError(
                f"unknown method {method!r}; expected one of {', '.join(sorted(METHODS))}"
            )
        if seed is not None and (
            not isinstance(seed, Integral) or isinstance(seed, bool) or not 0 <= seed < 2**31
        ):
            raise SamplerArgumentError(f"seed must be None or an integer in [0, 2^31), got {seed!r}")
        fn = METHODS[method]
        accepted, takes_any = _options_of(fn)
        kwargs = {}
        for name, value in options.items():
            if name in accepted or takes_any:
                kwargs[name] = value
            else:
                why = f"not used by method {method!r}" if name in self.parameters else "unknown"
                warnings.warn(f"Ignoring kwarg {name!r}: {why}", SamplerUnknownArgWarning, stacklevel=2)
        if num_reads is None:
            init = kwargs.get("initial_states")
            num_reads = len(dimod.as_samples(init)[0]) if init is not None else DEFAULT_NUM_READS
        if isinstance(num_reads, bool) or not isinstance(num_reads, Integral) or num_reads < 1:
            raise SamplerArgumentError(f"num_reads must be a positive integer, got {num_reads!r}")
        num_reads = int(num_reads)

        sampleset = fn(bqm, beta, num_reads, seed, **kwargs)

        sampleset = _in_order(sampleset, bqm)
        sampleset.info.update(
            beta=beta,
            method=method,
            num_reads=num_reads,
            seed=seed,
            seconds=time.perf_counter() - t0,
        )
        return sampleset


# --------------------------------------------------------------------------- built-in methods


def sa_schedule(
    beta: float,
    num_sweeps: int = 1000,
    schedule: str | Sequence[float] = "geometric",
    beta_start: float | None = None,
    num_sweeps_at_beta: int | None = None,
) -> np.ndarray:
    """The β of every sweep of the ``"sa"`` method, shape (num_sweeps,) (see :meth:`sample`).

    ``"geometric"`` / ``"linear"``: a ramp of ``num_sweeps - num_sweeps_at_beta`` sweeps from
    ``beta_start`` (default 0.1 β) to β (:func:`sampling.schedules.beta_schedule`), then
    ``num_sweeps_at_beta`` sweeps at β (default ``num_sweeps - num_sweeps // 4``: the ramp is the
    first quarter). ``"fixed"``: every sweep at β. ``"quench"`` (one hot sweep, one at β: Job &
    Adachi 2020) and explicit sequences are used exactly as given (``num_sweeps`` is ignored).

    Examples:
        >>> sa_schedule(1.0, num_sweeps=8, num_sweeps_at_beta=4).round(3).tolist()
        [0.1, 0.215, 0.464, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    if not isinstance(schedule, str) or schedule in ("quench", "fixed"):
        try:
            return beta_schedule(schedule, beta, _positive_int(num_sweeps, "num_sweeps"), beta_start)
        except ValueError as exc:
            raise SamplerArgumentError(str(exc)) from None
    num_sweeps = _positive_int(num_sweeps, "num_sweeps")
    if num_sweeps_at_beta is None:
        num_sweeps_at_beta = num_sweeps - num_sweeps // 4
    num_sweeps_at_beta = int(num_sweeps_at_beta)
    if not 0 <= num_sweeps_at_beta <= num_sweeps:
        raise SamplerArgumentError(
            f"num_sweeps_at_beta must be in [0, num_sweeps={num_sweeps}], got {num_sweeps_at_beta}"
        )
    ramp_len = num_sweeps - num_sweeps_at_beta
    try:
        ramp = beta_schedule(schedule, beta, ramp_len, beta_start) if ramp_len else np.empty(0)
    except ValueError as exc:
        raise SamplerArgumentError(str(exc)) from None
    return np.concatenate([ramp, np.full(num_sweeps_at_beta, beta)])


def _sample_sa(
    bqm: dimod.BinaryQuadraticModel,
    beta: float,
    num_reads: int,
    seed: int | None,
    *,
    num_sweeps: int = 1000,
    schedule: str | Sequence[float] = "geometric",
    beta_start: float | None = None,
    num_sweeps_at_beta: int | None = None,
    initial_states: Any = None,
) -> dimod.SampleSet:
    """Simulated annealing on a schedule ending with sweeps at β (see :func:`sa_schedule`)."""
    sched = sa_schedule(beta, num_sweeps, schedule, beta_start, num_sweeps_at_beta)
    ss = _run_sa(bqm, sched, num_reads, seed, initial_states)
    ss.info.update(
        num_sweeps=int(sched.size),
        schedule=schedule if isinstance(schedule, str) else "custom",
        beta_start=float(sched[0]),
    )
    return ss


def _sample_gibbs(
    bqm: dimod.BinaryQuadraticModel,
    beta: float,
    num_reads: int,
    seed: int | None,
    *,
    num_sweeps: int = 1000,
    initial_states: Any = None,
) -> dimod.SampleSet:
    """Single-site Gibbs sweeps at fixed β (systematic scan), optionally from given states."""
    sched = np.full(_positive_int(num_sweeps, "num_sweeps"), beta)
    ss = _run_sa(bqm, sched, num_reads, seed, initial_states)
    ss.info.update(num_sweeps=int(sched.size), schedule="fixed")
    return ss


def _sample_exact(
    bqm: dimod.BinaryQuadraticModel, beta: float, num_reads: int, seed: int | None
) -> dimod.SampleSet:
    """i.i.d. samples by enumeration (≤ MAX_EXACT_VARIABLES variables)."""
    if bqm.num_variables > MAX_EXACT_VARIABLES:
        raise SamplerArgumentError(
            f"method 'exact' enumerates all 2^n states and is limited to {MAX_EXACT_VARIABLES} "
            f"variables; this problem has {bqm.num_variables}: use method 'sa' or 'gibbs'"
        )
    return exact_sample(bqm, beta, num_reads, seed)


def _run_sa(bqm, sched, num_reads, seed, initial_states) -> dimod.SampleSet:
    from dwave.samplers import SimulatedAnnealingSampler

    if bqm.num_variables == 0:
        return dimod.SampleSet.from_samples(
            (np.zeros((num_reads, 0), dtype=np.int8), []),
            vartype=bqm.vartype,
            energy=np.full(num_reads, float(bqm.offset)),
        )
    if initial_states is not None:
        n_init = len(dimod.as_samples(initial_states)[0])
        if n_init != num_reads:
            raise SamplerArgumentError(
                f"got {n_init} initial states for num_reads={num_reads}: give one state per read"
            )
    return SimulatedAnnealingSampler().sample(
        bqm, num_reads=num_reads, **sa_parameters(sched, seed=seed, initial_states=initial_states)
    )


register_method("sa", _sample_sa)
register_method("gibbs", _sample_gibbs)
register_method("exact", _sample_exact)
register_method("qpu", sample_qpu_method)  # sampling/qpu/front.py: D-Wave QPU at target beta
register_method("mock-qpu", sample_mock_qpu_method)  # the same pipeline on an offline mock


# --------------------------------------------------------------------------- helpers


def _check_beta(beta: Any) -> float:
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise SamplerArgumentError(f"beta must be a positive finite number, got {beta!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise SamplerArgumentError(f"beta must be a positive finite number, got {beta!r}")
    return value


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise SamplerArgumentError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _in_order(sampleset: dimod.SampleSet, bqm: dimod.BinaryQuadraticModel) -> dimod.SampleSet:
    """Return ``sampleset`` with columns in ``bqm.variables`` order (same rows, vectors, info)."""
    if list(sampleset.variables) == list(bqm.variables):
        return sampleset
    pos = {v: i for i, v in enumerate(sampleset.variables)}
    cols = [pos[v] for v in bqm.variables]
    record = sampleset.record
    vectors = {name: record[name] for name in record.dtype.names if name != "sample"}
    return dimod.SampleSet.from_samples(
        (record.sample[:, cols], list(bqm.variables)),
        vartype=sampleset.vartype,
        info=dict(sampleset.info),
        sort_labels=False,
        **vectors,
    )
