"""Where a sweep of the torch BQM engine goes: each operation of a block-Gibbs sweep timed alone,
in ns per spin update, on the Pegasus P16 glass of ``bench_bqm_sampler.py`` (issue 18).

Per colour class a sweep is one ``embedding_bag`` (the local fields), an in-place ``sigmoid_`` and
one ``lt`` against uniforms drawn once per sweep (``sampling.torch_engine``). This times each of
them over the whole model for one block of chains, beside the alternatives measured for them:
16-bit uniforms (not exact enough to use, docs/sampling.md) and a CSR sparse × dense product
instead of ``embedding_bag``, and SA's cost per update for scale. The last two columns are the
compiled path (:mod:`sampling.kernels`, where numba imports): a whole sweep
(``ising_sweeps``: field, exponential, uniform and write in one pass per row) and the fused
elementwise draw ``x ← [u < σ(x)]`` alone (``bernoulli_logits_``), per spin. One CPU thread, CPU time of the
calling thread, median of ``--repeats``.

    python bench/bench_bqm_engine_ops.py                  # 185 chains (the engine's CPU block)
    python bench/bench_bqm_engine_ops.py --chains 64,185,1000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_bqm_sampler import pegasus_glass  # noqa: E402

from sampling import kernels  # noqa: E402
from sampling.torch_engine import IsingEngine, Uniforms  # noqa: E402


def per_update(fn, updates: int, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return float(np.median(times)) / updates * 1e9


def row(eng: IsingEngine, compiled: IsingEngine | None, width: int, repeats: int) -> list[float]:
    """ns per spin update of each operation, for one block of ``width`` chains."""
    n = eng.n
    bag = torch.nn.functional.embedding_bag
    state = eng.random_state(width, seed=0)
    u = torch.empty(n, width)
    u24, u16 = Uniforms(1, torch.device("cpu")), Uniforms(1, torch.device("cpu"), bits=16)
    blocks = [(lo, hi, idx, w * -2.0) for lo, hi, idx, w in eng._blocks]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "sparse CSR support is in beta"
        csr = [torch.sparse_csr_tensor(
            torch.arange(0, idx.numel() + 1, idx.shape[1], dtype=torch.int64),
            idx.reshape(-1).long(), w.reshape(-1), size=(hi - lo, n + 1))
            for lo, hi, idx, w in blocks]
    x = torch.randn(n, width)

    def bags():
        for _, _, idx, w in blocks:
            bag(idx, state, per_sample_weights=w, mode="sum")

    def csr_mm():
        for m in csr:
            m @ state

    def full():
        for lo, hi, idx, w in blocks:
            f = bag(idx, state, per_sample_weights=w, mode="sum")
            torch.lt(u[lo:hi], torch.sigmoid_(f), out=state[lo:hi])

    ops = [lambda: u24.fill_(u), lambda: u16.fill_(u), bags, csr_mm,
           lambda: torch.sigmoid_(x), lambda: torch.lt(u, x, out=state[:n]), full]
    if compiled is not None:  # the whole sweep in one compiled pass per row (the default path)
        ptr, cidx, cw, const = compiled._csr
        cw, const = cw * np.float32(-2.0), const * np.float32(-2.0)
        lanes = kernels.LaneRandom(2, width).state
        scale = np.ones(width, np.float32)
        cstate = state.numpy().copy()
        ops.append(lambda: kernels.ising_sweeps(cstate, ptr, cidx, cw, const, scale, 1, lanes))
        cx = x.numpy().copy()
        ops.append(lambda: kernels.bernoulli_logits_(cx, kernels.LaneRandom(3)))
    return [per_update(f, n * width, repeats) for f in ops] + [float("nan")] * (9 - len(ops))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chains", default="185", help="comma list of chain-block widths")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bqm_engine_ops.md")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()
    bqm = pegasus_glass()
    eng = IsingEngine(bqm, compiled=False)
    compiled = IsingEngine(bqm, compiled=True) if kernels.available() else None
    n = eng.n
    lines = []

    def emit(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    emit(f"Pegasus P16 glass: {n} spins, {eng.num_colours} colour classes; ns per spin update, "
         f"one thread; `python bench/bench_bqm_engine_ops.py --chains {args.chains}`\n")
    emit("| chains | uniforms (24-bit) | uniforms (16-bit) | embedding_bag | CSR @ dense |"
         " sigmoid_ | lt | bag + sigmoid + lt | compiled sweep | compiled σ + draw |")
    emit("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for width in (int(c) for c in args.chains.split(",")):
        cells = row(eng, compiled, width, args.repeats)
        emit(f"| {width} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")

    from dwave.samplers import SimulatedAnnealingSampler

    reads, sweeps = 200, 20
    sa = per_update(lambda: SimulatedAnnealingSampler().sample(
        bqm, num_reads=reads, beta_schedule_type="custom", beta_schedule=np.full(sweeps, 1.0),
        proposal_acceptance_criteria="Gibbs", randomize_order=False, seed=1),
        reads * sweeps * n, max(3, args.repeats // 5))
    emit(f"\ndwave-samplers SA (Gibbs, sequential), {reads} reads x {sweeps} sweeps: "
         f"{sa:.2f} ns per spin update")
    end = os.getloadavg()
    emit(f"\nload average {load[0]:.2f} before, {end[0]:.2f} after, {os.cpu_count()} cores")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
