"""A :class:`dimod.Sampler` that draws Boltzmann samples exp(-β E(x)) / Z of any BQM.

:class:`BoltzmannSampler` is the reusable front of this package: it takes any dimod binary quadratic
model (SPIN or BINARY, any hashable labels, any graph) and a target inverse temperature β, and
returns a :class:`dimod.SampleSet` whose rows are (approximately, for MCMC methods) distributed as
exp(-β E). It composes with Ocean composites (``dimod.TrackingComposite``,
``dwave.preprocessing.SpinReversalTransformComposite``, ...).

Methods (``method=``), each a function registered in :data:`METHODS`:

``"auto"`` (default)
    Exact whenever affordable, else parallel tempering (:mod:`sampling.auto`): ``"exact"`` for
    ≤ 22 variables, ``"tree"`` when the treewidth is ≤ 20, else ``"pt"``; ``info["method"]`` and
    ``info["reason"]`` say which and why.
``"tree"``
    Exact i.i.d. samples, log Z and marginals by tree decomposition (:mod:`sampling.tree`).
``"pt"``
    Parallel tempering with an adaptive β ladder on the torch engine (:mod:`sampling.tempering`).
``"gibbs"``
    Block Gibbs at fixed β on the torch engine (:mod:`sampling.torch_engine`); ``initial_states``
    (e.g. the previous SampleSet) continue persistent chains.
``"sa"``
    Simulated annealing with ``dwave.samplers.SimulatedAnnealingSampler`` on a Boltzmann-correct
    schedule: a ramp from ``beta_start`` (default 0.1 β) up to β, then sweeps **at β** (by default
    the last 3/4 of ``num_sweeps``), Gibbs acceptance, every variable once per sweep
    (:func:`sampling.schedules.sa_parameters`). dwave-samplers' default
    ``beta_range`` ends far colder than any useful β (it is an optimiser, docs/design.md §3) and is never
    used.
``"exact"``
    i.i.d. samples by enumerating all states (:mod:`sampling.enumeration`); at most
    :data:`~sampling.enumeration.MAX_EXACT_VARIABLES` variables.

``"qpu"``, ``"mock-qpu"``
    The D-Wave pipeline of :mod:`sampling.qpu.front` (registered at the end of this module).

Further methods are added with :func:`register_method`; their keyword options then become
parameters of the sampler automatically. MCMC methods put energy-trace diagnostics (split R-hat,
effective sample size: :mod:`sampling.convergence`) in ``info["convergence"]``, and ``sample``
warns with :class:`~sampling.convergence.ConvergenceWarning` when they fail.

The SA engine converts BINARY models to SPIN internally; energy differences, hence the Boltzmann
distribution at a given β, are unchanged, and the returned samples and energies are in the
model's own vartype.

Examples:
    >>> import dimod
    >>> bqm = dimod.BinaryQuadraticModel({"a": 0.5}, {("a", "b"): -1.0}, 0.0, "SPIN")
    >>> ss = BoltzmannSampler().sample(bqm, beta=2.0, num_reads=500, seed=1)
    >>> len(ss), ss.info["method"], ss.info["beta"]
    (500, 'exact', 2.0)
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

from sampling.auto import sample_auto
from sampling.bqm import column_order, in_variable_order
from sampling.checks import check_beta, check_positive_int
from sampling.convergence import check as check_convergence
from sampling.convergence import run_traced, summarize
from sampling.enumeration import MAX_EXACT_VARIABLES, check_enumerable, exact_sample
from sampling.errors import SamplerArgumentError
from sampling.qpu.front import sample_mock_qpu_method, sample_qpu_method
from sampling.schedules import SCHEDULES, beta_schedule, sa_parameters
from sampling.tempering import sample_gibbs, sample_pt
from sampling.tree import sample_tree

__all__ = [
    "DEFAULT_NUM_READS",
    "METHODS",
    "BoltzmannSampler",
    "SamplerArgumentError",
    "call_seed",
    "method_options",
    "parse_initial_states",
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


def register_method(name: str, fn: MethodFn, *, replace: bool = False) -> MethodFn:
    """Register ``fn`` as ``BoltzmannSampler`` method ``name`` and return it.

    ``fn(bqm, beta, num_reads, seed, **options)`` receives a validated β > 0, an int
    ``num_reads`` ≥ 1 and the call's ``seed`` (int or None; :func:`call_seed` of the user's seed
    and the problem), and ``initial_states`` already parsed to (num_reads, n) int8 in
    ``bqm.variables`` order (:func:`parse_initial_states`). Its keyword ``options`` (the parameters after the
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
        >>> {"auto", "tree", "pt", "sa", "gibbs", "exact"} <= set(sampler.properties["methods"])
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
        if "initial_states" in params:  # parsed by sample() itself, as dimod.Initialized does
            params["initial_states_generator"] = []
        return params

    @property
    def properties(self) -> dict[str, Any]:
        """``methods`` (registered names), ``max_exact_variables``, ``schedules``, ``description``."""
        return {
            "methods": tuple(METHODS),
            "max_exact_variables": MAX_EXACT_VARIABLES,
            "schedules": SCHEDULES,
            "description": "Boltzmann samples exp(-beta E) of any BQM (auto, exact, tree, pt, gibbs, sa, ...)",
        }

    def sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        *,
        beta: float = 1.0,
        num_reads: int | None = None,
        method: str = "auto",
        seed: int | None = None,
        **options: Any,
    ) -> dimod.SampleSet:
        """Sample ``bqm`` at inverse temperature ``beta``.

        Args:
            bqm: any dimod BQM; β multiplies its energy as given (E in the BQM's own units).
            beta: inverse temperature, > 0 and finite.
            num_reads: number of samples (rows), ≥ 1; default :data:`DEFAULT_NUM_READS`, or the
                number of ``initial_states`` when those are given.
            method: a name in :data:`METHODS`: ``"auto"`` (default: exact enumeration, else exact
                tree sampling when the treewidth allows, else parallel tempering), ``"exact"``,
                ``"tree"``, ``"pt"``, ``"gibbs"``, ``"sa"``, ...
            seed: integer seed in [0, 2³¹) for reproducible draws; None for fresh randomness.
                The seed of the call is derived from ``seed`` and the problem (see
                :func:`call_seed`), so a composite that passes one seed to several child calls on
                different problems (``SpinReversalTransformComposite``) gets independent streams.
            **options: method options (keyword only), e.g. ``num_sweeps``, ``initial_states``
                and ``initial_states_generator`` (as :class:`dimod.Initialized`: ``"random"``
                fills missing states at random, ``"tile"`` repeats them, ``"none"`` refuses too
                few; extra states are dropped), ``device`` (torch methods), ``num_replicas``,
                ``beta_min``, ``betas`` (``"pt"``), ``schedule``, ``beta_start``,
                ``num_sweeps_at_beta`` (``"sa"``), ``marginals``, ``max_treewidth`` (``"tree"``).
                Options of other methods, and unknown ones, are dropped with a
                ``SamplerUnknownArgWarning`` (dimod's convention).

        Returns:
            A :class:`dimod.SampleSet` with one row per read (``num_occurrences`` 1), columns in
            ``bqm.variables`` order, energies of ``bqm`` (offset included), ``bqm.vartype``, and
            ``info`` with ``beta``, ``method`` (the method that ran), ``num_reads``, ``seed``,
            ``seconds``, ``timing`` (``preprocessing_ns``, ``sampling_ns``,
            ``postprocessing_ns``), ``convergence`` for MCMC methods
            (:mod:`sampling.convergence`) and method details.

        Raises:
            SamplerArgumentError: β not positive and finite, ``num_reads`` < 1, unknown method,
                bad seed, too many variables for ``"exact"``, too wide for ``"tree"``, bad ladder.

        Warns:
            ConvergenceWarning: an MCMC method's energy R-hat > 1.05 or effective sample size
                below 10 % of the reads.
        """
        t0 = time.perf_counter_ns()
        beta = check_beta(beta, error=SamplerArgumentError)
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
        generator = options.pop("initial_states_generator", "random")
        for name, value in options.items():
            if name in accepted or takes_any:
                kwargs[name] = value
            else:
                why = f"not used by method {method!r}" if name in self.parameters else "unknown"
                warnings.warn(f"Ignoring kwarg {name!r}: {why}", SamplerUnknownArgWarning, stacklevel=2)
        if num_reads is None:
            init = kwargs.get("initial_states")
            num_reads = len(dimod.as_samples(init)[0]) if init is not None else DEFAULT_NUM_READS
        num_reads = check_positive_int(num_reads, "num_reads", error=SamplerArgumentError)
        run_seed = call_seed(seed, bqm)
        if kwargs.get("initial_states") is not None:
            kwargs["initial_states"] = parse_initial_states(
                bqm, kwargs["initial_states"], generator, num_reads, run_seed
            )
        t1 = time.perf_counter_ns()

        sampleset = fn(bqm, beta, num_reads, run_seed, **kwargs)

        t2 = time.perf_counter_ns()
        sampleset = in_variable_order(sampleset, bqm.variables)
        info = sampleset.info
        chosen = info.pop("method", method) if method == "auto" else method
        timing = dict(info.get("timing") or {})
        timing.update(preprocessing_ns=t1 - t0, sampling_ns=t2 - t1)
        info.update(beta=beta, method=chosen, num_reads=num_reads, seed=seed, timing=timing)
        if "convergence" in info:
            check_convergence(info["convergence"], chosen, stacklevel=2)
        timing["postprocessing_ns"] = time.perf_counter_ns() - t2
        info["seconds"] = (time.perf_counter_ns() - t0) / 1e9
        return sampleset


def call_seed(seed: int | None, bqm: dimod.BinaryQuadraticModel) -> int | None:
    """The seed one call uses: drawn from the stream of (``seed``, the problem's coefficients).

    The same seed on the same problem reproduces a run (the SPIN and BINARY forms of one model
    count as the same problem); the same seed on another problem, e.g. each spin-reversal
    transform that ``SpinReversalTransformComposite`` passes to its child with one ``seed``, starts
    an independent stream. None stays None (fresh randomness).

    Examples:
        >>> import dimod
        >>> a = dimod.BinaryQuadraticModel.from_ising({0: 1.0}, {(0, 1): -1.0})
        >>> b = dimod.BinaryQuadraticModel.from_ising({0: -1.0}, {(0, 1): 1.0})
        >>> call_seed(5, a) == call_seed(5, a.change_vartype("BINARY", inplace=False))
        True
        >>> call_seed(5, a) == call_seed(5, b)
        False
    """
    if seed is None:
        return None
    import hashlib

    spin = bqm.spin if bqm.vartype is dimod.BINARY else bqm
    h, (row, col, J), _ = spin.to_numpy_vectors(list(bqm.variables))
    digest = hashlib.blake2b(digest_size=16)
    for arr in (h, J):  # rounded, and -0.0 made 0.0, so that SPIN and BINARY forms agree
        digest.update(np.ascontiguousarray(np.round(np.asarray(arr, float), 9) + 0.0).tobytes())
    for arr in (row, col):
        digest.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    digest.update(repr(list(bqm.variables)).encode())
    words = np.frombuffer(digest.digest(), dtype=np.uint32)
    state = np.random.SeedSequence([int(seed), *words.tolist()]).generate_state(1)
    return int(state[0] % 2**31)


def parse_initial_states(
    bqm: dimod.BinaryQuadraticModel, initial_states: Any, generator: str, num_reads: int,
    seed: int | None,
) -> np.ndarray:
    """``initial_states`` as dimod.Initialized parses them: (num_reads, n) int8 in bqm order.

    ``generator``: ``"random"`` (fill missing rows with uniform random states), ``"tile"``
    (repeat the given rows), ``"none"`` (too few rows is an error); rows beyond ``num_reads`` are
    dropped; SPIN/BINARY states are converted to ``bqm.vartype``.

    Raises:
        SamplerArgumentError: wrong variables, an unknown generator, too few states for
            ``"none"``.
    """
    try:
        parsed = dimod.Initialized().parse_initial_states(
            bqm, initial_states=initial_states, initial_states_generator=generator,
            num_reads=num_reads, seed=seed,
        ).initial_states
    except ValueError as exc:
        n_init = len(dimod.as_samples(initial_states)[0])
        raise SamplerArgumentError(
            f"initial_states: {exc} (got {n_init} initial states for num_reads={num_reads}, "
            f"initial_states_generator={generator!r})"
        ) from None
    cols = column_order(parsed.variables, bqm.variables)
    return np.ascontiguousarray(parsed.record.sample[:, cols], dtype=np.int8)


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
            sweeps = check_positive_int(num_sweeps, "num_sweeps", error=SamplerArgumentError)
            return beta_schedule(schedule, beta, sweeps, beta_start)
        except ValueError as exc:
            raise SamplerArgumentError(str(exc)) from None
    num_sweeps = check_positive_int(num_sweeps, "num_sweeps", error=SamplerArgumentError)
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
    if initial_states is not None:  # parsed by BoltzmannSampler.sample: (num_reads, n) int8
        initial_states = (initial_states, list(bqm.variables))
    # the schedule's last half runs in segments so that each read's energy trace is recorded
    ss, traces = run_traced(
        lambda part, states, part_seed: _run_sa(bqm, part, num_reads, part_seed, states),
        sched, seed, initial_states,
    )
    ss.info.update(
        num_sweeps=int(sched.size),
        schedule=schedule if isinstance(schedule, str) else "custom",
        beta_start=float(sched[0]),
        convergence=summarize(traces, num_reads),
    )
    return ss


def _sample_exact(
    bqm: dimod.BinaryQuadraticModel, beta: float, num_reads: int, seed: int | None
) -> dimod.SampleSet:
    """i.i.d. samples by enumeration (≤ MAX_EXACT_VARIABLES variables)."""
    try:
        check_enumerable(bqm, what="method 'exact'", hint="use method 'sa' or 'gibbs'")
    except ValueError as error:
        raise SamplerArgumentError(str(error)) from None
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


register_method("auto", sample_auto)  # sampling/auto.py: exact, else tree, else pt
register_method("exact", _sample_exact)
register_method("tree", sample_tree)  # sampling/tree.py: exact samples for low treewidth
register_method("pt", sample_pt)  # sampling/tempering.py: parallel tempering (torch engine)
register_method("gibbs", sample_gibbs)  # sampling/tempering.py: block Gibbs (torch engine)
register_method("sa", _sample_sa)
register_method("qpu", sample_qpu_method)  # sampling/qpu/front.py: D-Wave QPU at target beta
register_method("mock-qpu", sample_mock_qpu_method)  # the same pipeline on an offline mock


# --------------------------------------------------------------------------- helpers


