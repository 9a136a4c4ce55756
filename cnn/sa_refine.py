"""Simulated-annealing refinement of the classifier layer (Rere, Fanany & Arymurthy 2015).

Rere et al., "Simulated Annealing Algorithm for Deep Learning" (Procedia Computer Science 72,
2015) interleave SGD with simulated annealing (SA): after an SGD minibatch, SA perturbs the weights
and biases of the last (classifier) layer and keeps or rejects each perturbation with the
Metropolis rule on the minibatch loss. Here:

* a move adds independent Gaussian noise N(0, σ²) to every weight and bias of the classifier
  (paper: step ≈ 5e-4);
* Δ = loss(new) − loss(current) on the same minibatch; an improvement (Δ ≤ 0) is always
  accepted, a worse move with probability exp(−Δ/T); at T = 0 only improvements are accepted;
* the temperature starts at ``initial_temperature`` and is multiplied by ``cooling`` (paper:
  halving, 0.5) after every ``moves_per_temperature`` moves (paper: ~20), for
  ``n_temperatures`` levels;
* the features feeding the classifier are computed once per minibatch (eval mode, so without
  dropout, under ``no_grad``) and cached, so each move costs one small matrix product.

What it is *not*: this is a stochastic local search over real-valued weights that uses the loss
as an energy. It is not Boltzmann sampling of an RBM, and it shares nothing with ``sampling/``
(which cnn/ must not import); "temperature" here is in units of the cross-entropy loss.

Randomness comes from the refiner's own ``torch.Generator`` (seeded by ``seed``; draws happen on
the CPU), so a run is reproducible on CPU and independent of torch's global RNG.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AnnealResult", "SARefineConfig", "SARefiner", "anneal", "refine_classifier"]

_Params = tuple[Tensor, "Tensor | None"]  # classifier (weight, bias)


@dataclass
class SARefineConfig:
    """Settings of the SA refinement.

    Attributes:
        sigma: standard deviation of the Gaussian step added to each weight and bias.
        initial_temperature: first temperature, in units of the mean minibatch cross-entropy
            (0 gives a greedy search that accepts improvements only).
        cooling: geometric factor applied to the temperature after each level (paper: 0.5).
        moves_per_temperature: Metropolis moves per temperature level (paper: ~20).
        n_temperatures: number of temperature levels per refinement.
        every: refine after every ``every``-th SGD minibatch.
        keep_best: end each refinement at the best state visited instead of the last one
            (never worse than where it started); the paper's rule is the last state (False).
        seed: seed of the refiner's own generator.
    """

    sigma: float = 5e-4
    initial_temperature: float = 1e-4
    cooling: float = 0.5
    moves_per_temperature: int = 20
    n_temperatures: int = 3
    every: int = 1
    keep_best: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sigma <= 0:
            raise ValueError(f"sigma must be > 0; got {self.sigma}")
        if self.initial_temperature < 0:
            raise ValueError(f"initial_temperature must be >= 0; got {self.initial_temperature}")
        if not 0 < self.cooling <= 1:
            raise ValueError(f"cooling must be in (0, 1]; got {self.cooling}")
        if self.moves_per_temperature < 1 or self.n_temperatures < 1 or self.every < 1:
            raise ValueError(
                "moves_per_temperature, n_temperatures and every must be >= 1; got "
                f"{self.moves_per_temperature}, {self.n_temperatures}, {self.every}"
            )

    def temperatures(self) -> list[float]:
        """The temperature of every level: T0, T0·cooling, T0·cooling², …"""
        return [self.initial_temperature * self.cooling**k for k in range(self.n_temperatures)]


@dataclass
class AnnealResult:
    """Outcome of :func:`anneal`: final state and energy, start energy, move counts."""

    state: Any
    energy: float
    initial_energy: float
    accepted: int
    moves: int
    best_state: Any
    best_energy: float


def anneal(
    energy: Callable[[Any], float],
    state: Any,
    temperatures: Sequence[float],
    moves_per_temperature: int,
    propose: Callable[[Any, torch.Generator], Any],
    generator: torch.Generator,
) -> AnnealResult:
    """Metropolis simulated annealing on any state.

    Args:
        energy: ``energy(state)`` → float to minimise.
        state: the starting state (not modified; ``propose`` must return new objects).
        temperatures: one temperature per level (≥ 0), used for ``moves_per_temperature`` moves.
        propose: ``propose(state, generator)`` → candidate state.
        generator: CPU generator for the proposals and the acceptance draws.

    A candidate with Δ = E(candidate) − E(current) ≤ 0 is accepted; otherwise it is accepted
    with probability exp(−Δ/T) (never at T = 0). One uniform number is drawn per move whatever
    happens, so the random stream does not depend on the outcomes.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> r = anneal(lambda s: (s - 3.0) ** 2, 0.0, [0.0], 200,
        ...            lambda s, g: s + 0.1 * torch.randn((), generator=g).item(), g)
        >>> abs(r.state - 3.0) < 0.2
        True
    """
    e = float(energy(state))
    result = AnnealResult(state, e, e, 0, 0, state, e)
    for t in temperatures:
        if t < 0:
            raise ValueError(f"temperatures must be >= 0; got {t}")
        for _ in range(moves_per_temperature):
            candidate = propose(result.state, generator)
            e_new = float(energy(candidate))
            delta = e_new - result.energy
            u = torch.rand((), generator=generator).item()
            result.moves += 1
            if delta <= 0 or (t > 0 and u < math.exp(-delta / t)):
                result.state, result.energy = candidate, e_new
                result.accepted += 1
                if e_new < result.best_energy:
                    result.best_state, result.best_energy = candidate, e_new
    return result


def _check_model(model: nn.Module) -> nn.Linear:
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Linear) or not callable(getattr(model, "features", None)):
        raise TypeError(
            "SA refinement needs a model with features(x) and an nn.Linear `classifier` "
            f"(like cnn.CNN); got {type(model).__name__}"
        )
    return classifier


@torch.no_grad()
def refine_classifier(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    config: SARefineConfig,
    generator: torch.Generator,
    features: Tensor | None = None,
) -> AnnealResult:
    """Run one SA refinement of ``model.classifier`` on the minibatch ``(x, y)``, in place.

    ``features`` (``(B, F)``, the classifier's input) may be passed to skip the forward pass;
    otherwise they are computed in eval mode. Returns the :class:`AnnealResult` (energies are
    mean cross-entropies on the minibatch).
    """
    classifier = _check_model(model)
    if features is None:
        was_training = model.training
        model.eval()
        features = model.features(x)
        model.train(was_training)
    features = features.detach()
    y = y.to(features.device)
    w0 = classifier.weight.detach().clone()
    b0 = classifier.bias.detach().clone() if classifier.bias is not None else None
    sigma = config.sigma

    def energy(state: _Params) -> float:
        w, b = state
        return F.cross_entropy(F.linear(features, w, b), y).item()

    def propose(state: _Params, g: torch.Generator) -> _Params:
        w, b = state
        w = w + sigma * torch.randn(w.shape, generator=g).to(w.device, w.dtype)
        if b is not None:
            b = b + sigma * torch.randn(b.shape, generator=g).to(b.device, b.dtype)
        return w, b

    result = anneal(
        energy, (w0, b0), config.temperatures(), config.moves_per_temperature, propose, generator
    )
    w, b = result.best_state if config.keep_best else result.state
    classifier.weight.copy_(w)
    if b is not None:
        classifier.bias.copy_(b)
    return result


class SARefiner:
    """Per-minibatch SA refinement inside :func:`cnn.finetune`, with per-epoch metrics."""

    def __init__(self, model: nn.Module, config: SARefineConfig) -> None:
        _check_model(model)
        self.model = model
        self.config = config
        self.generator = torch.Generator().manual_seed(config.seed)
        self._step = 0
        self.start_epoch()

    def state_dict(self) -> dict[str, Any]:
        """The random stream and step counter (for resuming :func:`cnn.finetune`)."""
        return {"generator": self.generator.get_state(), "step": self._step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self._step = int(state["step"])

    def start_epoch(self) -> None:
        self._accepted = 0
        self._moves = 0
        self._seconds = 0.0
        self._gain = 0.0
        self._calls = 0

    def after_step(self, x: Tensor, y: Tensor) -> None:
        """Called after every SGD step with that step's minibatch."""
        self._step += 1
        if self._step % self.config.every:
            return
        t0 = time.perf_counter()
        r = refine_classifier(self.model, x, y, self.config, self.generator)
        self._seconds += time.perf_counter() - t0
        self._accepted += r.accepted
        self._moves += r.moves
        final = r.best_energy if self.config.keep_best else r.energy
        self._gain += r.initial_energy - final
        self._calls += 1

    def epoch_metrics(self) -> dict[str, float]:
        """``sa_acceptance`` (accepted/proposed moves), ``sa_seconds``, ``sa_loss_gain``
        (mean minibatch loss decrease per refinement) for the epoch so far."""
        return {
            "sa_acceptance": self._accepted / self._moves if self._moves else float("nan"),
            "sa_seconds": self._seconds,
            "sa_loss_gain": self._gain / self._calls if self._calls else float("nan"),
        }
