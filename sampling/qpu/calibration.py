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

__all__ = ["TemperatureCalibrator", "callen_z", "effective_fields", "mpl_beta"]


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


def callen_z(
    h: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    J: np.ndarray,
    spins: np.ndarray,
    beta: float,
) -> float:
    """Largest |z-score| of the Callen identities of ±1 ``spins`` (R, n) at ``beta``.

    For samples of ``exp(-β E)`` each spin satisfies ``E[s_i + tanh(β f_i)] = 0`` and, for every
    coupled pair, ``E[s_j (s_i + tanh(β f_i))] = 0`` (``f_i = h_i + Σ_j J_ij s_j``, the field of
    the other spins: the exact conditional mean of ``s_i`` is ``-tanh(β f_i)``). These are
    n + 2M checks of the *shape* of the distribution that a single temperature (MPL fits only one
    scalar equation) cannot pass by luck: per-qubit biases, control errors, broken chains show up
    here. Each mean is divided by its standard error over the R (independent) samples; under the
    null the largest of K such |z| is about ``sqrt(2 ln K)`` (≈ 4 for K = 1000). ``nan`` when
    ``beta`` is not finite and positive.
    """
    if not (math.isfinite(beta) and beta > 0):
        return float("nan")
    s = np.asarray(spins, dtype=np.float64)
    n = len(h)
    Jm = sp.coo_matrix((np.asarray(J, float), (rows, cols)), shape=(n, n)).tocsr()
    f = np.asarray(((Jm + Jm.T) @ s.T).T) + np.asarray(h, float)[None, :]
    r = s + np.tanh(beta * f)  # (R, n), mean 0 for Boltzmann samples
    stats = [r, s[:, cols] * r[:, rows], s[:, rows] * r[:, cols]]
    stat = np.concatenate(stats, axis=1)
    mean, sd = stat.mean(0), stat.std(0)
    ok = sd > 0
    if not ok.any():
        return 0.0
    return float(np.max(np.abs(mean[ok]) / sd[ok] * math.sqrt(len(s))))


@dataclass
class TemperatureCalibrator:
    """Running estimate of the hardware inverse temperature ``β_hw`` at unit programmed scale.

    Args:
        beta_hw: current estimate (the initial guess until the first update).
        gamma: damping floor in (0, 1] of the gain ``max(gamma, 1 / (k + 1))``; 1 trusts each
            call's estimate fully, smaller averages over more calls.
        max_step: largest factor by which one update may move ``β_hw`` (guards against outliers).
        beta_hw_min, beta_hw_max: absolute bounds of the estimate.
        bound: the estimate also stays within ``[initial / bound, initial · bound]`` of the
            initial guess (a calibration cannot run away on samples it misreads).
        enabled: when False, :meth:`update` only records the observation.
    """

    beta_hw: float = 1.0
    gamma: float = 0.5
    max_step: float = 4.0
    beta_hw_min: float = 1e-3
    beta_hw_max: float = 1e3
    enabled: bool = True
    bound: float = 10.0
    initial: float | None = None
    num_updates: int = 0
    history: list = field(default_factory=list)  # last observations (beta_hw estimates)

    def __post_init__(self) -> None:
        if not (self.beta_hw > 0 and math.isfinite(self.beta_hw)):
            raise ValueError(f"initial hardware beta must be positive and finite, got {self.beta_hw}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"calibration damping gamma must be in (0, 1], got {self.gamma}")
        if not self.max_step > 1:
            raise ValueError(f"calibration max_step must be > 1, got {self.max_step}")
        if not self.bound > 1:
            raise ValueError(f"calibration bound must be > 1, got {self.bound}")
        if self.initial is None:
            self.initial = float(self.beta_hw)

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
        lo = max(self.beta_hw_min, self.initial / self.bound)
        hi = min(self.beta_hw_max, self.initial * self.bound)
        self.beta_hw = float(min(hi, max(lo, new)))
        self.num_updates += 1
        return self.beta_hw

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            if k in self.__dataclass_fields__:
                setattr(self, k, list(v) if k == "history" else v)
