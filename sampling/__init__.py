from sampling.diagnostics import compare_to_exact, estimate_beta, within_noise_floor
from sampling.enumeration import exact_distribution, exact_sample

__all__ = [
    "compare_to_exact",
    "estimate_beta",
    "exact_distribution",
    "exact_sample",
    "within_noise_floor",
]
