"""The ``"auto"`` method: exact whenever it is affordable, parallel tempering otherwise.

:func:`sample_auto` picks, in this order,

1. ``"exact"`` (enumeration) for at most :data:`sampling.enumeration.MAX_EXACT_VARIABLES`
   variables;
2. ``"tree"`` (exact i.i.d. samples by tree decomposition, :mod:`sampling.tree`) when the
   elimination width is at most :data:`AUTO_MAX_TREEWIDTH` (checked cheaply by
   :func:`sampling.tree.treewidth_at_most`);
3. ``"pt"`` (parallel tempering on the torch engine, :mod:`sampling.tempering`) otherwise, with
   the MCMC options given (``num_sweeps``, ``num_replicas``, ``beta_min``, ``betas``, ``adapt``,
   ``initial_states``, ``device``) and its convergence diagnostics.

``info["method"]`` names the method that ran and ``info["reason"]`` says why. The MCMC options are
ignored when an exact method is chosen (exact samples need neither sweeps nor initial states).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import dimod

from sampling.enumeration import MAX_EXACT_VARIABLES, exact_sample

__all__ = ["AUTO_MAX_TREEWIDTH", "sample_auto"]

log = logging.getLogger(__name__)

#: Widest elimination order ``"auto"`` hands to the tree sampler: tables of 2^(width + 1) entries
#: per variable; at width 16, 4,000 samples of a 64-spin cube take 0.1 s, each unit doubles that.
AUTO_MAX_TREEWIDTH = 20


def sample_auto(
    bqm: dimod.BinaryQuadraticModel,
    beta: float,
    num_reads: int,
    seed: int | None,
    *,
    num_sweeps: int = 1000,
    num_replicas: int | None = None,
    beta_min: float | None = None,
    betas: Sequence[float] | None = None,
    adapt: bool = True,
    initial_states: Any = None,
    device: str | None = None,
) -> dimod.SampleSet:
    """Exact enumeration, else exact tree sampling, else parallel tempering (see module doc)."""
    from sampling.tree import treewidth_at_most

    n = bqm.num_variables
    if n <= MAX_EXACT_VARIABLES:
        ss = exact_sample(bqm, beta, num_reads, seed)
        ss.info.update(method="exact", reason=f"{n} variables <= {MAX_EXACT_VARIABLES}: "
                       "exact enumeration")
        return ss
    if treewidth_at_most(bqm, AUTO_MAX_TREEWIDTH):
        from sampling.tree import sample_tree

        ss = sample_tree(bqm, beta, num_reads, seed, max_treewidth=AUTO_MAX_TREEWIDTH)
        ss.info.update(method="tree", reason=f"treewidth {ss.info['treewidth']} <= "
                       f"{AUTO_MAX_TREEWIDTH}: exact tree-decomposition sampling")
        return ss
    from sampling.tempering import sample_pt

    ss = sample_pt(bqm, beta, num_reads, seed, num_sweeps=num_sweeps, num_replicas=num_replicas,
                   beta_min=beta_min, betas=betas, adapt=adapt, initial_states=initial_states,
                   device=device)
    ss.info.update(method="pt", reason=f"{n} variables, treewidth > {AUTO_MAX_TREEWIDTH}: "
                   "parallel tempering")
    log.info("auto: %s", ss.info["reason"])
    return ss
