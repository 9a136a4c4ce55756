from sampling.diagnostics import compare_to_exact, estimate_beta, within_noise_floor
from sampling.enumeration import exact_distribution, exact_sample
from sampling.boltzmann import BoltzmannSampler
from sampling.base import NegativeSampler
from sampling.errors import SamplingError
from sampling.layer_factory import LayerSamplerError, layer_sampler, layer_sampler_factory, resilient_layer_sampler
from sampling.qpu_backend import QPUUnavailableError
from sampling.registry import available_samplers, make_sampler, register_sampler
from sampling.resilient import ResilientSampler, SamplerFailure

__all__ = [
    "BoltzmannSampler",
    "LayerSamplerError",
    "NegativeSampler",
    "QPUUnavailableError",
    "ResilientSampler",
    "SamplerFailure",
    "SamplingError",
    "available_samplers",
    "layer_sampler",
    "layer_sampler_factory",
    "resilient_layer_sampler",
    "make_sampler",
    "register_sampler",
    "compare_to_exact",
    "estimate_beta",
    "exact_distribution",
    "exact_sample",
    "within_noise_floor",
]
