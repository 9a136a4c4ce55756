"""Effective temperature of annealer samples, and calibration of the QPU scale factor.

A quantum annealer programmed with the Ising energy ``E_qpu`` returns samples that are, to a good
approximation late in the anneal, Boltzmann distributed as ``exp(-β_hw · E_qpu)``; ``β_hw`` (the
*hardware* inverse temperature at unit programmed scale) is unknown, drifts between solvers and
depends on the problem. To sample a model at a target ``β`` we program ``E_qpu = s · E`` with the
scale ``s = β / β_hw``. This module

- estimates the inverse temperature of samples with respect to a given Ising energy by maximum
  pseudo-likelihood (:func:`mpl_beta`: the vectorised effective fields ``en1`` of
  ``dwave.system.temperatures``, solved by the package's one MPL estimator,
  :func:`sampling.diagnostics.pseudolikelihood_beta`, the estimator of
  ``maximum_pseudolikelihood_temperature``);
- keeps a running estimate of ``β_hw`` and turns it into the scale (:class:`TemperatureCalibrator`):
  after a call programmed at scale ``s`` whose samples show ``β_est`` with respect to the model, the
  hardware estimate is ``β_est / s`` and the update is the damped multiplicative rule

      log β_hw ← log β_hw + γ_k · clip(log(β_est / s) − log β_hw, ±log max_step)

  i.e. ``s ← s · (β / β_est)^γ_k``, with gain ``γ_k = max(γ, 1 / (k + 1))`` at the k-th update: the
  first observation replaces the initial guess, the next ones are averaged until the gain reaches
  the damping floor ``γ`` (an exponential moving average that keeps tracking drift). Its state is
  a plain dict, saved with the sampler's state_dict.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> h = np.array([0.7])  # one spin: p(s) ∝ exp(-β h s), here at β = 2
    >>> s = np.where(rng.random((20000, 1)) < 1 / (1 + np.exp(-2 * 2 * 0.7)), -1, 1)
    >>> round(mpl_beta(h, np.zeros(0, int), np.zeros(0, int), np.zeros(0), s), 1)
    2.0
    >>> cal = TemperatureCalibrator(beta_hw=1.0, gamma=0.5, max_step=10.0)
    >>> cal.scale(beta=2.0)
    2.0
    >>> round(cal.update(beta_est=6.0, scale_used=2.0), 6)  # 3x colder than planned: β_hw = 3
    3.0
    >>> round(cal.scale(beta=2.0), 4)
    0.6667
    >>> round(cal.update(beta_est=2.4, scale_used=0.6667), 2)  # next: 3.6 seen, averaged in
    3.29
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["effective_fields", "mpl_beta", "TemperatureCalibrator"]


def effective_fields(
    h: np.ndarray, rows: np.ndarray, cols: np.ndarray, J: np.ndarray, spins: np.ndarray
) -> np.ndarray:
    """Energy lost by flipping each spin, ``f_i(s) = 2 s_i (h_i + Σ_j J_ij s_j)``, shape (R, n).

    The same quantity as ``dwave.system.temperatures.effective_field(...,
    current_state_energy=True)`` for the Ising energy ``E(s) = h·s + Σ_k J_k s_{rows_k} s_{cols_k}``.
    """
    n = len(h)
    s = np.asarray(spins, dtype=np.float64)
    Jm = sp.coo_matrix((np.asarray(J, float), (rows, cols)), shape=(n, n)).tocsr()
    Jm = Jm + Jm.T
    field = np.asarray((Jm @ s.T).T) + np.asarray(h, float)[None, :]
    return 2.0 * s * field


def mpl_beta(
    h: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    J: np.ndarray,
    spins: np.ndarray,
) -> float:
    """Maximum-pseudo-likelihood inverse temperature of ±1 ``spins`` (R, n) under the Ising energy.

    Returns ``β`` such that the samples look most like ``exp(-β E)``; ``inf`` when every sample is
    a local minimum (no excitations), ``nan`` when there is nothing to fit (no fields at all).
    """
    from sampling.diagnostics import pseudolikelihood_beta

    en1 = effective_fields(h, rows, cols, J, spins)
    if en1.size == 0 or not np.any(en1):
        return float("nan")
    return float(pseudolikelihood_beta(en1))


@dataclass
class TemperatureCalibrator:
    """Running estimate of the hardware inverse temperature ``β_hw`` at unit programmed scale.

    Args:
        beta_hw: current estimate (the initial guess until the first update).
        gamma: damping floor in (0, 1] of the gain ``max(gamma, 1 / (k + 1))``; 1 trusts each
            call's estimate fully, smaller averages over more calls.
        max_step: largest factor by which one update may move ``β_hw`` (guards against outliers).
        beta_hw_min, beta_hw_max: absolute bounds of the estimate.
        enabled: when False, :meth:`update` only records the observation.
    """

    beta_hw: float = 1.0
    gamma: float = 0.5
    max_step: float = 4.0
    beta_hw_min: float = 1e-3
    beta_hw_max: float = 1e3
    enabled: bool = True
    num_updates: int = 0
    history: list = field(default_factory=list)  # last observations (beta_hw estimates)

    def __post_init__(self) -> None:
        if not (self.beta_hw > 0 and math.isfinite(self.beta_hw)):
            raise ValueError(f"initial hardware beta must be positive and finite, got {self.beta_hw}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"calibration damping gamma must be in (0, 1], got {self.gamma}")
        if not self.max_step > 1:
            raise ValueError(f"calibration max_step must be > 1, got {self.max_step}")

    def scale(self, beta: float) -> float:
        """Programmed scale ``s = β / β_hw`` for a target ``β``."""
        return float(beta) / self.beta_hw

    def update(self, beta_est: float, scale_used: float) -> float:
        """Fold in one call's estimate (``β_est`` with respect to the model, programmed at
        ``scale_used``); returns the new ``β_hw``. Non-finite estimates are ignored."""
        if not (math.isfinite(beta_est) and beta_est > 0 and scale_used > 0):
            return self.beta_hw
        observed = beta_est / scale_used
        self.history = (self.history + [observed])[-100:]
        if not self.enabled:
            return self.beta_hw
        step = math.log(observed) - math.log(self.beta_hw)
        lim = math.log(self.max_step)
        step = max(-lim, min(lim, step))
        gain = max(self.gamma, 1.0 / (self.num_updates + 1))
        new = math.exp(math.log(self.beta_hw) + gain * step)
        self.beta_hw = float(min(self.beta_hw_max, max(self.beta_hw_min, new)))
        self.num_updates += 1
        return self.beta_hw

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            if k in self.__dataclass_fields__:
                setattr(self, k, list(v) if k == "history" else v)
