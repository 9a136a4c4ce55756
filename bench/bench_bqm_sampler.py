"""The general Boltzmann sampler on hard problems: torch engine speed and time to the accuracy bar.

Part 1, **throughput** (issue 18): a ±J spin glass on the Pegasus P16 graph
(``dwave.graphs.pegasus_graph(16)``: 5,640 variables, 40,484 couplings, fields h ~ N(0, 0.1²)),
``--reads`` chains (default 1,000), ``--sweeps`` sweeps at β = 1, one CPU thread. Rows:

- ``SA (Gibbs, sequential)``: ``dwave.samplers.SimulatedAnnealingSampler`` with a constant β
  schedule, Gibbs acceptance, ``randomize_order=False``: the same Markov chain family as ours (a
  sequential scan of exact single-site conditionals);
- ``SA (Metropolis, sequential)``: the library's fastest update, for reference;
- ``engine sweeps, compiled kernel`` (where numba imports) and ``engine sweeps, pure torch``:
  :meth:`sampling.torch_engine.IsingEngine.sweeps` alone, on each of its two CPU paths (the
  compiled one is the default: :mod:`sampling.kernels`);
- ``method="gibbs"``: the whole ``BoltzmannSampler`` call (energy traces for the diagnostics,
  conversion, energies of the returned sample set), on each path;
- ``engine sweeps, pure torch, 16-bit uniforms``: a variant the samplers do not use (P(u < p) is
  off by up to 2^-16, see docs/sampling.md), to show what the uniforms cost;
- ``dwave-pytorch-plugin BlockSampler`` (the peer; only where ``dwave.plugins.torch`` imports, i.e.
  run with the benchmark venv of ``bench/requirements-bench.txt``): its block Gibbs with our
  colouring, ``sample()`` timed (construction, a per-node Python loop, is printed separately).

Spin updates/s = reads × sweeps × n / seconds, counted the same way for all. Each row is timed by
the CPU time of the calling thread (``time.thread_time``; fair on a shared machine) and by wall
clock, ``--repeats`` times with the rows interleaved, and reports the medians (the peer once: it
is 10x slower); ``× SA`` is against the Gibbs SA row's CPU time.

Part 2, **time to the accuracy bar**: the 5×40 strip of the issue (200 spins, J = ±1, h ~
N(0, 0.3²), β = 2; treewidth 6), ``--reads`` reads. Bar: |z| of the mean energy ≤ 4 and RMS of
the per-variable and per-edge marginal z-scores ≤ 1.5 against exact tree-decomposition marginals
(``sampling.tree.exact_moments``). PT and SA run at doubling sweep counts until they pass (or
``--max-sweeps``); the table lists every run (seconds, z, RMS, R-hat, pass) and the tree sampler's
time for the same reads.

Usage:
    python bench/bench_bqm_sampler.py                       # ~10 min on one loaded core
    python bench/bench_bqm_sampler.py --quick               # 5 sweeps, strip up to 400 sweeps
    python bench/bench_bqm_sampler.py --device cuda         # adds a GPU row when one is present
    /tmp/benchvenv/bin/python bench/bench_bqm_sampler.py    # with the peer column (own venv)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dimod  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import DEFAULT_OUT, machine_info, markdown_table, set_threads, write_json  # noqa: E402


def pegasus_glass(m: int = 16, seed: int = 0) -> dimod.BinaryQuadraticModel:
    import dwave.graphs as dnx

    graph = dnx.pegasus_graph(m)
    rng = np.random.default_rng(seed)
    nodes = list(graph)
    index = {v: i for i, v in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in graph.edges])
    return dimod.BinaryQuadraticModel.from_numpy_vectors(
        0.1 * rng.normal(size=len(nodes)),
        (edges[:, 0], edges[:, 1], rng.choice([-1.0, 1.0], size=len(edges))),
        0.0, "SPIN",
    )


def strip_glass(seed: int = 0) -> dimod.BinaryQuadraticModel:
    graph = nx.grid_2d_graph(5, 40)
    rng = np.random.default_rng(seed)
    label = {v: f"s{v[0]}_{v[1]}" for v in graph}
    return dimod.BinaryQuadraticModel.from_ising(
        {label[v]: 0.3 * rng.normal() for v in graph},
        {(label[u], label[v]): float(rng.choice([-1.0, 1.0])) for u, v in graph.edges},
    )


def timed(fn):
    c0, w0 = time.thread_time(), time.perf_counter()
    out = fn()
    return out, time.thread_time() - c0, time.perf_counter() - w0


def throughput(reads: int, sweeps: int, device: str | None, repeats: int) -> list[dict]:
    """Each row timed ``repeats`` times, the rows interleaved (SA, engine, ..., SA, engine, ...) so
    that a change in the machine's load hits all of them alike; a row reports its median."""
    from dwave.samplers import SimulatedAnnealingSampler

    from sampling import kernels
    from sampling.boltzmann import BoltzmannSampler
    from sampling.torch_engine import IsingEngine, Uniforms

    bqm = pegasus_glass()
    n = bqm.num_variables
    updates = reads * sweeps * n

    def sa(criterion):
        return lambda: SimulatedAnnealingSampler().sample(
            bqm, num_reads=reads, beta_schedule_type="custom", beta_schedule=np.full(sweeps, 1.0),
            proposal_acceptance_criteria=criterion, randomize_order=False, seed=1)

    def engine_run(dev, bits=24, compiled=None):
        engine = IsingEngine(bqm, device=dev, compiled=compiled)
        state = engine.random_state(reads, seed=0)
        betas = torch.full((reads,), 1.0, device=engine.device)
        uniforms = Uniforms(1, engine.device, bits=bits)
        engine.sweeps(state, betas, 1, uniforms)  # warm-up (allocations, CUDA context)

        def run():
            engine.sweeps(state, betas, sweeps, uniforms)
            if engine.device.type == "cuda":
                torch.cuda.synchronize()
        return run

    def whole(dev, compiled=None):
        def run():
            if compiled is not None:
                previous = kernels.set_enabled(compiled)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                BoltzmannSampler().sample(bqm, beta=1.0, num_reads=reads, method="gibbs",
                                          num_sweeps=sweeps, seed=1, device=dev)
            if compiled is not None:
                kernels.set_enabled(previous)
        return run

    runners = [("SA (Gibbs, sequential)", sa("Gibbs")),
               ("SA (Metropolis, sequential)", sa("Metropolis"))]
    if kernels.available():
        runners += [("engine sweeps (cpu), compiled kernel", engine_run("cpu", compiled=True)),
                    ('method="gibbs" (cpu), compiled, whole call', whole("cpu", True))]
    runners += [("engine sweeps (cpu), pure torch", engine_run("cpu", compiled=False)),
                ('method="gibbs" (cpu), pure torch, whole call', whole("cpu", False))]
    if device not in (None, "cpu"):
        runners += [(f"engine sweeps ({device})", engine_run(device)),
                    (f'method="gibbs" ({device}), whole call', whole(device))]
    runners.append(("engine sweeps (cpu), pure torch, 16-bit uniforms",
                    engine_run("cpu", bits=16, compiled=False)))
    times = {name: [] for name, _ in runners}
    for rep in range(repeats):
        for name, fn in runners:
            _, cpu, wall = timed(fn)
            times[name].append((cpu, wall))
        print(f"  repeat {rep + 1}/{repeats}, CPU s: " + ", ".join(
            f"{name} {t[-1][0]:.2f}" for name, t in times.items()), flush=True)
    rows = []
    for name, t in times.items():
        cpu, wall = (float(np.median([x[i] for x in t])) for i in (0, 1))
        clock = wall if "cuda" in name else cpu
        rows.append({"row": name, "cpu_s": cpu, "wall_s": wall, "updates_per_s": updates / clock,
                     "cpu_s_all": [x[0] for x in t], "wall_s_all": [x[1] for x in t]})
    rows.extend(peer_rows(bqm, IsingEngine(bqm, compiled=False), reads, sweeps))
    base = rows[0]["cpu_s"]
    for r in rows:
        r["x_sa"] = base / (r["wall_s"] if "cuda" in r["row"] else r["cpu_s"])
    return rows


def peer_rows(bqm, engine, reads: int, sweeps: int) -> list[dict]:
    """dwave-pytorch-plugin's BlockSampler on the same model and colouring (empty if absent)."""
    try:
        from dwave.plugins.torch.models.boltzmann_machine import GraphRestrictedBoltzmannMachine
        from dwave.plugins.torch.samplers.block_spin_sampler import BlockSampler
    except ImportError as exc:
        print(f"peer column skipped: dwave-pytorch-plugin not importable ({exc}); run with the "
              "venv of bench/requirements-bench.txt", flush=True)
        return []
    n = bqm.num_variables
    lin, (r, c, quad), _ = bqm.spin.to_numpy_vectors(variable_order=list(bqm.variables))
    colour = np.empty(n, dtype=np.int64)
    for k, cls in enumerate(engine.classes):
        colour[cls.numpy()] = k
    t0 = time.perf_counter()
    grbm = GraphRestrictedBoltzmannMachine(nodes=range(n), edges=list(zip(r.tolist(), c.tolist(),
                                                                          strict=True)))
    with torch.no_grad():  # E = Σ h s + Σ J s s, the BQM's spin form (offset dropped)
        grbm._linear.copy_(torch.as_tensor(lin, dtype=torch.float32))
        grbm._quadratic.copy_(torch.as_tensor(quad, dtype=torch.float32))
    sampler = BlockSampler(grbm, lambda v: int(colour[v]), num_chains=reads,
                           schedule=[1.0] * sweeps, proposal_acceptance_criteria="Gibbs", seed=1)
    print(f"peer: GRBM + BlockSampler construction {time.perf_counter() - t0:.1f} s wall",
          flush=True)
    spins, cpu, wall = timed(sampler.sample)
    samples = spins.numpy().astype(np.int8)
    mean_e = float(np.mean(bqm.energies((samples, range(n)))))
    print(f"peer: mean energy after {sweeps} sweeps {mean_e:.1f}", flush=True)
    return [{"row": "dwave-pytorch-plugin BlockSampler (Gibbs), sample()", "cpu_s": cpu,
             "wall_s": wall, "updates_per_s": reads * sweeps * n / cpu}]


def accuracy(reads: int, max_sweeps: int, start_sweeps: int) -> list[dict]:
    from sampling.boltzmann import BoltzmannSampler
    from sampling.tree import exact_moments, marginal_zscores

    bqm = strip_glass()
    beta = 2.0
    moments = exact_moments(bqm, beta)
    rows = []

    def record(method, sweeps, fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ss, cpu, wall = timed(fn)
        z = marginal_zscores(ss, bqm, moments)
        ok = abs(z["energy_z"]) <= 4 and z["variable_rms"] <= 1.5 and z["edge_rms"] <= 1.5
        conv = ss.info.get("convergence") or {}
        rows.append({"method": method, "sweeps": sweeps, "cpu_s": cpu, "wall_s": wall,
                     "energy_z": z["energy_z"], "variable_rms": z["variable_rms"],
                     "edge_rms": z["edge_rms"], "rhat": conv.get("rhat"), "passes": ok,
                     "replicas": ss.info.get("num_replicas")})
        print(f"  {method:5s} {sweeps:6d} sweeps  {wall:7.1f} s  z {z['energy_z']:+7.1f}  "
              f"rms {z['variable_rms']:.2f}/{z['edge_rms']:.2f}  pass {ok}", flush=True)
        return ok

    record("tree", 0, lambda: BoltzmannSampler().sample(bqm, beta=beta, num_reads=reads,
                                                         method="tree", seed=1))
    for method in ("pt", "sa"):
        sweeps = start_sweeps
        while sweeps <= max_sweeps:
            if record(method, sweeps, lambda m=method, s=sweeps: BoltzmannSampler().sample(
                    bqm, beta=beta, num_reads=reads, method=m, num_sweeps=s, seed=1)):
                break
            sweeps *= 2
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--sweeps", type=int, default=20, help="sweeps for the throughput part")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timings per row")
    parser.add_argument("--max-sweeps", type=int, default=3200)
    parser.add_argument("--start-sweeps", type=int, default=100)
    parser.add_argument("--device", default=None, help="extra torch device row, e.g. cuda")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.sweeps, args.max_sweeps, args.repeats = 5, 400, 1
    set_threads(1)
    if args.device and args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: GPU row skipped", flush=True)
        args.device = None
    info = machine_info()
    print(f"load average before: {info.get('load_average_1_5_15')}", flush=True)
    print(f"throughput: Pegasus P16 glass, {args.reads} reads x {args.sweeps} sweeps", flush=True)
    tput = throughput(args.reads, args.sweeps, args.device, args.repeats)
    table1 = markdown_table(
        ["row", "CPU s", "wall s", "spin updates/s", "x SA (Gibbs)"],
        [[r["row"], f"{r['cpu_s']:.2f}", f"{r['wall_s']:.2f}", f"{r['updates_per_s']:.3g}",
          f"{r['x_sa']:.2f}"] for r in tput],
    )
    print(table1, flush=True)
    acc = []
    table2 = ""
    if not args.skip_accuracy:
        print(f"accuracy: 5x40 strip at beta 2, {args.reads} reads", flush=True)
        acc = accuracy(args.reads, args.max_sweeps, args.start_sweeps)
        table2 = markdown_table(
            ["method", "sweeps", "replicas", "wall s", "CPU s", "energy z", "var RMS z",
             "edge RMS z", "R-hat", "passes"],
            [[r["method"], str(r["sweeps"] or "-"), str(r["replicas"] or "-"), f"{r['wall_s']:.1f}",
              f"{r['cpu_s']:.1f}", f"{r['energy_z']:+.1f}", f"{r['variable_rms']:.2f}",
              f"{r['edge_rms']:.2f}", "-" if r["rhat"] is None else f"{r['rhat']:.3f}",
              "yes" if r["passes"] else "no"] for r in acc],
        )
        print(table2, flush=True)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average after: {info['load_average_after']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "bqm_sampler_quick" if args.quick else "bqm_sampler"
    write_json(args.out / f"{stem}.json", {"args": {k: str(v) for k, v in vars(args).items()},
                                           "machine": info, "throughput": tput, "accuracy": acc})
    (args.out / f"{stem}.md").write_text(
        f"# bench_bqm_sampler ({time.strftime('%Y-%m-%d %H:%M')})\n\n"
        f"command: python bench/bench_bqm_sampler.py {' '.join(argv or sys.argv[1:])}\n"
        f"python: {sys.executable}\n"
        f"load average before/after: {info.get('load_average_1_5_15')} / "
        f"{info['load_average_after']}\n\n## Throughput\n\n{table1}\n\n"
        + (f"## Time to the accuracy bar\n\n{table2}\n" if table2 else "")
    )
    print(f"wrote {args.out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
