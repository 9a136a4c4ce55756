"""The centering trick for RBM gradients (Montavon & Müller 2012; Melchior, Fischer & Wiskott,
JMLR 2016), applied in the ordinary parametrisation.

A centered RBM writes its energy with offsets, ``E = -(v - μ)ᵀ W (h - λ) - bᵀ(v - μ) - cᵀ(h - λ)``:
the same family of distributions, but its log-likelihood gradient for ``W`` is a *covariance*,
``⟨(v - μ)(h - λ)ᵀ⟩_data - ⟨(v - μ)(h - λ)ᵀ⟩_model``, where the plain one is a second moment
``⟨v hᵀ⟩_data - ⟨v hᵀ⟩_model``. On images whose pixels have a large positive mean (MNIST's is
0.13, mostly zeros) the second moment is dominated by ``μ ⟨h⟩ᵀ``: every filter receives the same
mean-patch push and the filters collapse toward one blob, which is what the plain recipe did
(docs/RESULTS.md §6). Centering removes that common component.

Melchior et al.'s Algorithm 1 keeps the ordinary parameters and changes only the update:

    ∇W_c = ∇W - μ ∇cᵀ - ∇b λᵀ
    W   += η ∇W_c
    b   += η (∇b - ∇W_c λ)        (visible bias: keeps the model's response to h = λ)
    c   += η (∇c - ∇W_cᵀ μ)       (hidden bias: keeps the model's response to v = μ)

with μ the data mean of the visible units and λ a running mean of the data-phase hidden
probabilities. :class:`Centering` does this on the ``.grad`` of a model after ``backward()`` of
:func:`rbm.pretrain.layer_loss` (the optimizer then steps as usual). For a conv RBM the offsets
are per channel (μ, a scalar per input channel: shared filters see every position) and per filter
(λ); the visible-bias correction uses an interior pixel's coverage (every tap of every filter),
exact away from the borders. The loss gives ``∇b`` per pixel scaled by pixels/positions (see
:mod:`rbm.pretrain`): ``∇W_c`` uses the unscaled pixel-mean difference, and the bias
corrections are made at the weights' step size, so that the weight step leaves the hidden logits
of the image ``v = μ`` and the visible logits of ``h = λ`` (interior pixels) exactly where the
plain bias steps put them.

Examples:
    >>> import torch
    >>> from rbm import BernoulliRBM
    >>> _ = torch.manual_seed(0)
    >>> model = BernoulliRBM(4, 3)
    >>> v = (torch.rand(16, 4) < 0.8).float()
    >>> centering = Centering.from_data(model, v)
    >>> round(float(centering.mu.mean()), 2) == round(float(v.mean()), 2)
    True
    >>> for p in model.parameters():
    ...     p.grad = torch.ones_like(p)
    >>> centering.apply(model, per_unit_activity(model, v), num_positions=1, num_pixels=1)
    >>> model.weight.grad.shape == model.weight.shape
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .activity import per_unit_activity

__all__ = ["Centering"]


class Centering:
    """Offsets μ (visible) and λ (hidden) and the centered-gradient transform.

    Args:
        mu: visible offset: per visible unit (dense, shape ``(n_visible,)``) or per input channel
            (conv, shape ``(C,)``).
        lam: initial hidden offset per hidden unit / filter, shape ``(K,)``.
        rate: sliding-average rate of λ toward each batch's data-phase hidden mean (Melchior et
            al. use 0.01-0.1; λ only needs to track the slowly moving mean activity).
    """

    def __init__(self, mu: Tensor | None = None, lam: Tensor | None = None, rate: float = 0.1) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"centering rate must be in (0, 1], got {rate!r}")
        self.mu = None if mu is None else mu.detach().clone()
        self.lam = None if lam is None else lam.detach().clone()
        self.rate = float(rate)

    @classmethod
    def from_data(cls, model: nn.Module, data: Tensor, rate: float = 0.1,
                  max_items: int = 1000) -> Centering:
        """A centering whose offsets are set by :meth:`set_offsets_from` ``(model, data)``."""
        centering = cls(rate=rate)
        centering.set_offsets_from(model, data, max_items)
        return centering

    @torch.no_grad()
    def set_offsets_from(self, model: nn.Module, data: Tensor, max_items: int = 1000) -> None:
        """μ from ``data``'s mean (per visible unit, or per channel for a conv layer; a dense
        layer's images are flattened, as it flattens them), λ from the model's hidden activity on
        the first ``max_items`` items; offsets already set (e.g. loaded to resume) are kept."""
        if self.mu is not None and self.lam is not None:
            return
        x = data[:max_items].to(model.weight.device, model.weight.dtype)
        self.mu = x.flatten(1).mean(0) if model.weight.ndim == 2 else x.mean(dim=(0, 2, 3))
        self.lam = per_unit_activity(model, x)

    def state_dict(self) -> dict[str, Any]:
        """The offsets and rate: checkpoint them to resume a run exactly (λ is a running mean)."""
        return {"mu": self.mu, "lam": self.lam, "rate": self.rate}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mu, self.lam, self.rate = state["mu"], state["lam"], float(state["rate"])

    @torch.no_grad()
    def apply(self, model: nn.Module, activity: Tensor, *, num_positions: int, num_pixels: int) -> None:
        """Replace the plain gradients in ``model``'s ``.grad`` by the centered ones, then move λ
        toward ``activity``.

        Args:
            activity: this step's data-phase mean hidden probability per unit / filter, shape
                ``(K,)`` (:func:`rbm.activity.per_unit_activity` of the batch; with data
                parallelism the global batch's, so every rank keeps the same λ).
            num_positions: hidden positions per filter on a data image (1 for dense).
            num_pixels: pixels per channel of a data image (1 for dense: its ∇b is per unit).
        """
        if self.mu is None or self.lam is None:
            raise ValueError("centering offsets are not set: call set_offsets_from(model, data) first")
        gw, gb, gc = model.weight.grad, model.visible_bias.grad, model.hidden_bias.grad
        if gw is None or gb is None or gc is None:
            raise ValueError("centering needs the gradients of weight, visible_bias and hidden_bias")
        mu, lam = self.mu.to(gw), self.lam.to(gw)
        scale = num_pixels / num_positions  # ∇b's units: per pixel times pixels / positions
        gb_unit = gb / scale
        if gw.ndim == 2:  # dense: weight (n_visible, n_hidden)
            gw_c = gw - mu[:, None] * gc[None, :] - gb_unit[:, None] * lam[None, :]
            gb.sub_(gw_c @ lam)
            gc.sub_(gw_c.t() @ mu)
        else:  # conv: weight (K, C, w, w); mu per channel, lam per filter
            gw_c = gw - mu[None, :, None, None] * gc[:, None, None, None] \
                - gb_unit[None, :, None, None] * lam[:, None, None, None]
            gb.sub_(torch.einsum("kcij,k->c", gw_c, lam))
            gc.sub_(torch.einsum("kcij,c->k", gw_c, mu))
        gw.copy_(gw_c)
        self.lam.mul_(1.0 - self.rate).add_(self.rate * activity.to(self.lam))
