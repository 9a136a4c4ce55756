"""Boltzmann samplers: negative-phase samplers for RBMs (torch) and a dimod front for any BQM.

Every public name below is importable from the package, and each is imported on first use
(a module-level ``__getattr__``, PEP 562): ``from sampling import BoltzmannSampler`` and the
dimod front (methods ``sa``, ``gibbs``, ``exact``, ``qpu``, ``mock-qpu``, the CLI) never import
torch; the negative-phase samplers (``GibbsSampler``, ``SimulatedAnnealingNegativeSampler``,
...) do, when they are first asked for.

Examples:
    >>> import sampling
    >>> sorted(set(sampling.available_samplers()) - {"neal"})
    ['annealed', 'cd', 'exact', 'mock-qpu', 'pcd', 'qpu', 'sa']
    >>> sampling.GibbsSampler is sampling.make_sampler("cd").__class__
    True
"""

from __future__ import annotations

from sampling.lazy import lazy_exports

#: Public name → the module that defines it.
_EXPORTS = {
    # the dimod front (no torch)
    "BoltzmannSampler": "sampling.boltzmann",
    "SamplerArgumentError": "sampling.boltzmann",
    "register_method": "sampling.boltzmann",
    "compare_to_exact": "sampling.diagnostics",
    "estimate_beta": "sampling.diagnostics",
    "within_noise_floor": "sampling.diagnostics",
    "exact_distribution": "sampling.enumeration",
    "exact_sample": "sampling.enumeration",
    "beta_schedule": "sampling.schedules",
    "sa_parameters": "sampling.schedules",
    "QPUBackend": "sampling.qpu.backend",
    "QPUSamplingError": "sampling.qpu.errors",
    "QPUUnavailableError": "sampling.qpu.errors",
    # the sampler registry (no torch until a sampler is made)
    "available_samplers": "sampling.registry",
    "make_sampler": "sampling.registry",
    "register_sampler": "sampling.registry",
    "ResilientSampler": "sampling.resilient",
    "SamplerFailure": "sampling.resilient",
    "SamplingError": "sampling.errors",
    # the per-layer sampler factory of the pipeline
    "LayerSamplerError": "sampling.layer_factory",
    "layer_canvas": "sampling.layer_factory",
    "layer_sampler": "sampling.layer_factory",
    "layer_sampler_factory": "sampling.layer_factory",
    "resilient_layer_sampler": "sampling.layer_factory",
    # negative-phase samplers (torch), one per make_sampler name (see sampling.registry)
    "NegativeSampler": "sampling.base",
    "GibbsSampler": "sampling.gibbs",
    "AnnealedGibbsSampler": "sampling.annealed",
    "SimulatedAnnealingNegativeSampler": "sampling.sa",
    "ExactSampler": "sampling.exact",
    "QPUSampler": "sampling.qpu.samplers",
    "MockQPUSampler": "sampling.qpu.samplers",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
