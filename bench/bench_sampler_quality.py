"""Sample quality of every negative-phase backend against the exact distribution, and how the
cost of sampling grows with the problem (issue 7, part 1).

Part A — quality. On RBMs small enough to enumerate (random dense 10×6 RBMs at weight std 0.1,
0.5, 1.0, 2.0, a conv RBM with 2 filters 3×3 on a 4×4 canvas, and the same with 2×2 max-pooling),
every backend draws N samples at β = 1 and the empirical distributions of the visible and the
hidden side are compared with the exact marginals: KL(empirical ‖ exact) and total variation, each
divided by its i.i.d. noise floor for the same N (``sampling.diagnostics.compare_to_exact``).
A ratio ≈ 1 means "as good as exact samples"; the acceptance bar of docs/design.md §4 is ≤ 2 on both
distances and both sides. Backends, side by side on the same BQM and the same β schedule:

* ``exact`` (enumeration; the reference) and ``exact`` at 1.15 β (what a 15 % β error looks like),
* ``annealed`` (torch block Gibbs) and ``sa`` (our dwave-samplers wrapper) with the ``fixed``
  (plain Gibbs from noise), ``linear`` and ``geometric`` schedules at several sweep counts, and
  the two-sweep ``quench``,
* **raw dwave-samplers SA**: ``SimulatedAnnealingSampler.sample`` on the same BQM with the same
  β schedule and the same MCMC settings as the ``sa`` backend (``sampling.schedules.sa_parameters``: Gibbs
  acceptance, and since d7befcb a systematic scan instead of dwave-samplers' random order),
* ``pcd-k`` (k = 1, 10): 100 persistent chains, 50 calls of burn-in, then N/100 successive calls
  (the samples a PCD negative phase sees over successive updates, so autocorrelation counts),
* ``mock-qpu`` (MockDWaveSampler on Pegasus P6 whose substitute samples 3× colder than
  programmed; 5 calibration calls first),
* with ``--with-peer``: dwave-pytorch-plugin 0.4.0's ``BipartiteGibbsSampler`` (not for the pooled
  model: it updates all hidden units at once, which is wrong when hidden units are coupled) and
  ``BlockSampler`` with a valid colouring, on the same Ising model and β schedule.

CD-k is not in part A: its chains start at the data, and a random model has no data (started at
exact samples CD is trivially exact); its quality shows in bench_generative.py instead.

Part B — speed vs problem size (``--no-speed`` skips it): samples/s and spin-updates/s of
``annealed``, ``sa``, raw SA and the peer for dense RBMs and conv RBMs of growing canvas and filter
count (100 chains, 20 linear sweeps, median of 3), and the power law of time vs size.
bench_samplers.py covers fixed sizes in more detail.

Usage (one command regenerates everything; the peer needs its own venv, see
bench/requirements-bench.txt):

    /tmp/benchvenv/bin/python bench/bench_sampler_quality.py --with-peer      # ~10 min, 1 core
    python bench/bench_sampler_quality.py --quick                             # ~1 min
Outputs in --out (default bench/results/): sampler_quality.json, sampler_quality.md,
sampler_quality_kl.png, sampler_quality_tv.png, sampler_speed.png.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import fmt, markdown_table, mean_std, plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

# --------------------------------------------------------------------------------------- models

SCHEDULES = ("fixed", "linear", "geometric")
PEER_MAX_COUPLINGS = 150_000  # the peer's BipartiteGibbsSampler takes > 1 min per call beyond


def dense_model(std: float, seed: int):
    from rbm import BernoulliRBM

    gen = torch.Generator().manual_seed(seed)
    model = BernoulliRBM(10, 6)
    with torch.no_grad():
        model.weight.copy_(std * torch.randn(10, 6, generator=gen))
        model.visible_bias.copy_(0.5 * torch.randn(10, generator=gen))
        model.hidden_bias.copy_(0.5 * torch.randn(6, generator=gen))
    return model, (10,)


def conv_model(std: float, seed: int, pool: int | None):
    """2 filters 3×3 on a 1×4×4 canvas: 16 visible, 2×2×2 = 8 hidden (with 2×2 pooling: one block
    per filter, 25 valid hidden states)."""
    from rbm import ConvRBM

    gen = torch.Generator().manual_seed(seed)
    model = ConvRBM(1, 2, 3, pool_size=pool, visible_shape=(1, 4, 4))
    with torch.no_grad():
        model.weight.copy_(std * torch.randn(2, 1, 3, 3, generator=gen))
        model.visible_bias.copy_(0.5 * torch.randn(1, generator=gen))
        model.hidden_bias.copy_(0.5 * torch.randn(2, generator=gen))
    return model, (1, 4, 4)


MODELS: dict[str, Callable[[int], tuple]] = {
    "dense-w0.1": lambda s: dense_model(0.1, s),
    "dense-w0.5": lambda s: dense_model(0.5, s),
    "dense-w1.0": lambda s: dense_model(1.0, s),
    "dense-w2.0": lambda s: dense_model(2.0, s),
    "conv-w1.5": lambda s: conv_model(1.5, s, None),
    "conv-pool-w1.5": lambda s: conv_model(1.5, s, 2),
}


# --------------------------------------------------------------------------------------- exact


def exact_probs(model, side: str, canvas) -> np.ndarray:
    """Exact marginal of ``side`` at β = 1 over all 2ⁿ states, indexed as ``state_index``."""
    from sampling.diagnostics import state_index
    from sampling.exact import exact_marginal

    states, probs, _ = exact_marginal(model, side, canvas, 1.0)
    flat = states.reshape(len(states), -1).numpy()
    out = np.zeros(1 << flat.shape[1])
    out[state_index(flat)] = probs.double().numpy()
    return out


def quality(v: np.ndarray, h: np.ndarray, exact: dict[str, np.ndarray], seed: int) -> dict:
    from sampling.diagnostics import compare_to_exact

    out = {}
    for side, x in (("visible", v), ("hidden", h)):
        x = np.asarray(x).reshape(x.shape[0], -1).astype(np.int8)
        r = compare_to_exact(x, exact[side], seed=seed)
        r["kl_ratio"] = r["kl"] / r["kl_floor"]
        r["tv_ratio"] = r["tv"] / r["tv_floor"]
        out[side] = r
    out["within_floor"] = bool(
        all(out[s]["kl_ratio"] <= 2 and out[s]["tv_ratio"] <= 2 for s in ("visible", "hidden"))
    )
    return out


# --------------------------------------------------------------------------------------- backends
# Each draw function returns (v, h, seconds, extra) with v, h numpy {0,1} arrays (N, n_side).


def _split(model, canvas, x: np.ndarray):
    n_v = math.prod(canvas)
    return x[:, :n_v], x[:, n_v:]


def draw_ours(name: str, schedule: str, sweeps: int, model, canvas, n: int, seed: int):
    from sampling import make_sampler

    opts = {"schedule": schedule, "num_sweeps": sweeps}
    sampler = make_sampler(name, num_chains=n, canvas=canvas, seed=seed, **opts)
    t0 = time.perf_counter()
    v, h = sampler.sample(model, torch.zeros(1, *canvas))
    seconds = time.perf_counter() - t0
    extra = {k: sampler.last_info[k] for k in ("pool_violations",) if k in sampler.last_info}
    return v.reshape(n, -1).numpy(), h.reshape(n, -1).numpy(), seconds, extra


def draw_raw_sa(schedule: str, sweeps: int, model, canvas, n: int, seed: int):
    from dwave.samplers import SimulatedAnnealingSampler

    from sampling.bqm import pooling_violations, sampleset_to_array, spec_to_bqm
    from sampling.schedules import beta_schedule, sa_parameters

    spec = model.to_qm(canvas)
    bqm = spec_to_bqm(spec)
    betas = beta_schedule(schedule, 1.0, sweeps)
    t0 = time.perf_counter()
    ss = SimulatedAnnealingSampler().sample(bqm, num_reads=n, seed=seed, **sa_parameters(betas))
    seconds = time.perf_counter() - t0
    x = sampleset_to_array(ss, spec.num_variables)
    v, h = _split(model, canvas, x)
    return v, h, seconds, {"pool_violations": int(pooling_violations(spec, x).sum())}


def draw_exact(beta: float, model, canvas, n: int, seed: int):
    from sampling import make_sampler

    sampler = make_sampler("exact", beta=beta, num_chains=n, seed=seed)
    t0 = time.perf_counter()
    v, h = sampler.sample(model, torch.zeros(1, *canvas))
    return v.reshape(n, -1).numpy(), h.reshape(n, -1).numpy(), time.perf_counter() - t0, {}


def draw_pcd(k: int, model, canvas, n: int, seed: int, chains: int = 100, burn: int = 50):
    from sampling import make_sampler

    sampler = make_sampler("pcd", k=k, init="random", num_chains=chains, canvas=canvas, seed=seed)
    data = torch.zeros(1, *canvas)
    t0 = time.perf_counter()
    for _ in range(burn):
        sampler.sample(model, data)
    vs, hs = [], []
    for _ in range(-(-n // chains)):
        v, h = sampler.sample(model, data)
        vs.append(v.reshape(chains, -1))
        hs.append(h.reshape(chains, -1))
    seconds = time.perf_counter() - t0
    return torch.cat(vs)[:n].numpy(), torch.cat(hs)[:n].numpy(), seconds, {}


def draw_mock(model, canvas, n: int, seed: int, warmup: int = 5):
    from sampling import make_sampler

    sampler = make_sampler("mock-qpu", num_chains=1000, canvas=canvas, seed=seed)
    data = torch.zeros(1, *canvas)
    t0 = time.perf_counter()
    for _ in range(warmup):  # temperature calibration (beta_hw starts at 1.0, the mock is at 3.0)
        sampler.sample(model, data)
    sampler.num_chains = n
    v, h = sampler.sample(model, data)
    seconds = time.perf_counter() - t0
    info = sampler.last_info
    extra = {k: info.get(k) for k in ("beta_eff", "beta_hw_calibrated", "chain_break_fraction",
                                       "num_qubits", "max_chain_length", "range_factor")}
    return v.reshape(n, -1).numpy(), h.reshape(n, -1).numpy(), seconds, extra


# ---- dwave-pytorch-plugin (the peer) ------------------------------------------------------------


def peer_available() -> tuple[bool, str]:
    try:
        from importlib.metadata import version

        import dwave.plugins.torch  # noqa: F401

        return True, version("dwave-pytorch-plugin")
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}"


def peer_grbm(spec):
    """dwave-pytorch-plugin GRBM with the same energy as ``spec`` (Ising form, offset dropped).

    Nodes are 0..n-1 (visible first); ``linear``/``quadratic`` are set from the spin form of the
    BQM in one assignment (the plugin's ``set_quadratic`` is a per-edge Python loop).
    """
    from dwave.plugins.torch.models.boltzmann_machine import GraphRestrictedBoltzmannMachine

    from sampling.bqm import spec_to_bqm

    n = spec.num_variables
    spin = spec_to_bqm(spec).spin
    lin, (rows, cols, quad), _ = spin.to_numpy_vectors(variable_order=list(range(n)))
    edges = list(zip(rows.tolist(), cols.tolist(), strict=True))
    grbm = GraphRestrictedBoltzmannMachine(
        nodes=range(n), edges=edges, hidden_nodes=range(spec.n_visible, n)
    )
    with torch.no_grad():
        grbm._linear.copy_(torch.as_tensor(lin, dtype=torch.float32))
        grbm._quadratic.copy_(torch.as_tensor(quad, dtype=torch.float32))
    return grbm


def peer_colouring(model, canvas, spec):
    """node → colour: visible 0; hidden 1 + position inside its pooling block (singletons: 1)."""
    from sampling.exact import hidden_blocks

    colour = dict.fromkeys(range(spec.n_visible), 0)
    for block in hidden_blocks(model, canvas):
        for pos, unit in enumerate(block.tolist()):
            colour[spec.n_visible + unit] = 1 + pos
    return colour.__getitem__


def draw_peer(kind: str, schedule: str, sweeps: int, model, canvas, n: int, seed: int):
    from sampling.schedules import beta_schedule

    spec = model.to_qm(canvas)
    betas = beta_schedule(schedule, 1.0, sweeps).tolist()
    grbm = peer_grbm(spec)
    t0 = time.perf_counter()
    if kind == "bipartite":
        from dwave.plugins.torch.samplers.bipartite_sampler import BipartiteGibbsSampler

        sampler = BipartiteGibbsSampler(grbm, num_chains=n, schedule=betas, seed=seed)
    else:
        from dwave.plugins.torch.samplers.block_spin_sampler import BlockSampler

        sampler = BlockSampler(grbm, peer_colouring(model, canvas, spec), num_chains=n,
                               schedule=betas, proposal_acceptance_criteria="Gibbs", seed=seed)
    spins = sampler.sample()
    seconds = time.perf_counter() - t0
    x = ((spins.numpy() + 1) // 2).astype(np.int8)
    from sampling.bqm import pooling_violations

    v, h = _split(model, canvas, x)
    return v, h, seconds, {"pool_violations": int(pooling_violations(spec, x).sum())}


# --------------------------------------------------------------------------------------- settings


def settings(sweep_list: list[int], with_peer: bool) -> list[dict]:
    """Every (backend, schedule, sweeps) measured in part A, as dicts with a ``draw`` callable."""
    out = [
        {"backend": "exact", "schedule": "-", "sweeps": 0,
         "draw": lambda m, c, n, s: draw_exact(1.0, m, c, n, s)},
        {"backend": "exact @1.15β", "schedule": "-", "sweeps": 0,
         "draw": lambda m, c, n, s: draw_exact(1.15, m, c, n, s)},
    ]
    families = [("annealed", lambda sch, k: (lambda m, c, n, s: draw_ours("annealed", sch, k, m, c, n, s))),
                ("sa", lambda sch, k: (lambda m, c, n, s: draw_ours("sa", sch, k, m, c, n, s))),
                ("raw SA", lambda sch, k: (lambda m, c, n, s: draw_raw_sa(sch, k, m, c, n, s)))]
    if with_peer:
        families += [
            ("peer bipartite", lambda sch, k: (lambda m, c, n, s: draw_peer("bipartite", sch, k, m, c, n, s))),
            ("peer block", lambda sch, k: (lambda m, c, n, s: draw_peer("block", sch, k, m, c, n, s))),
        ]
    for name, make in families:
        for sch in SCHEDULES:
            for k in sweep_list:
                out.append({"backend": name, "schedule": sch, "sweeps": k, "draw": make(sch, k)})
        out.append({"backend": name, "schedule": "quench", "sweeps": 2, "draw": make("quench", 2)})
    for k in (1, 10):
        out.append({"backend": f"pcd-{k}", "schedule": "fixed", "sweeps": k,
                    "draw": (lambda kk: lambda m, c, n, s: draw_pcd(kk, m, c, n, s))(k)})
    out.append({"backend": "mock-qpu", "schedule": "geom+hold", "sweeps": 300,
                "draw": lambda m, c, n, s: draw_mock(m, c, n, s)})
    return out


def label(row: dict) -> str:
    if row["backend"].startswith(("exact", "pcd", "mock")):
        return row["backend"]
    if row["schedule"] == "quench":
        return f"{row['backend']} quench"
    return f"{row['backend']} {row['schedule']} {row['sweeps']}"


def run_quality(args, seeds: list[int]) -> list[dict]:
    sweep_list = [1, 10] if args.quick else [1, 3, 10, 30, 100]
    models = ["dense-w0.5", "dense-w2.0", "conv-pool-w1.5"] if args.quick else list(MODELS)
    rows: list[dict] = []
    for model_name in models:
        for seed in seeds:
            model, canvas = MODELS[model_name](1000 + seed)
            exact = {side: exact_probs(model, side, canvas) for side in ("visible", "hidden")}
            t_model = time.perf_counter()
            for st in settings(sweep_list, args.with_peer):
                if st["backend"] == "peer bipartite" and getattr(model, "pool_size", None):
                    continue  # hidden-hidden (pooling) couplings: a simultaneous update is wrong
                if st["backend"] == "mock-qpu" and args.no_mock:
                    continue
                try:
                    v, h, seconds, extra = st["draw"](model, canvas, args.samples, seed)
                    q = quality(v, h, exact, seed)
                    error = None
                except Exception as exc:  # noqa: BLE001  (report, keep going)
                    q, seconds, extra, error = None, float("nan"), {}, f"{type(exc).__name__}: {exc}"
                    print(f"  ! {model_name} seed {seed} {label(st)}: {error}", flush=True)
                rows.append({"model": model_name, "seed": seed, "backend": st["backend"],
                             "schedule": st["schedule"], "sweeps": st["sweeps"],
                             "label": label(st), "n": args.samples, "seconds": seconds,
                             "quality": q, "extra": extra, "error": error})
            print(f"{model_name} seed {seed}: {time.perf_counter() - t_model:.1f} s", flush=True)
    return rows


# --------------------------------------------------------------------------------------- tables


def quality_tables(rows: list[dict], with_peer: bool) -> str:
    models = list(dict.fromkeys(r["model"] for r in rows))
    labels = list(dict.fromkeys(r["label"] for r in rows))

    def cell(lab, model, key):
        rs = [r for r in rows if r["label"] == lab and r["model"] == model]
        if not rs:
            return "n/a"
        if any(r["quality"] is None for r in rs):
            return "error"
        v = mean_std([r["quality"]["visible"][key] for r in rs])[0]
        h = mean_std([r["quality"]["hidden"][key] for r in rs])[0]
        ok = all(r["quality"]["within_floor"] for r in rs)
        text = f"{fmt(v, 2)} / {fmt(h, 2)}"
        return text if ok else f"**{text}**"

    out = []
    n = rows[0]["n"]
    nseeds = len({r["seed"] for r in rows})
    out.append(f"KL(empirical ‖ exact) / i.i.d. floor, visible / hidden marginal, N = {n}, mean over "
               f"{nseeds} random model(s) per column; **bold** = some seed outside 2× the floor "
               "(KL or TV, v or h):\n")
    out.append(markdown_table(["setting", *models], [[lab, *(cell(lab, m, "kl_ratio") for m in models)]
                                                     for lab in labels]))
    out.append("\nTotal variation / i.i.d. floor, visible / hidden (same runs):\n")
    out.append(markdown_table(["setting", *models], [[lab, *(cell(lab, m, "tv_ratio") for m in models)]
                                                     for lab in labels]))
    floors = []
    for m in models:
        rs = [r for r in rows if r["model"] == m and r["backend"] == "exact" and r["quality"]]
        floors.append([m, *(mean_std([r["quality"][s][k] for r in rs])[0]
                            for s in ("visible", "hidden") for k in ("kl_floor", "tv_floor"))])
    out.append(f"\nThe floors themselves (mean over seeds, N = {n}):\n")
    out.append(markdown_table(["model", "KL floor v", "TV floor v", "KL floor h", "TV floor h"], floors))
    out.append("\nFewest sweeps that reach the floor (KL and TV ≤ 2× floor on both sides, every seed):\n")
    out.append(sweeps_to_floor_table(rows, models))
    mock = [r for r in rows if r["backend"] == "mock-qpu" and r["quality"]]
    if mock:
        out.append("\nmock-qpu details (last measured call, mean over seeds):\n")
        mrows = []
        for m in models:
            rs = [r for r in mock if r["model"] == m]
            if rs:
                mrows.append([m, *(mean_std([float(r["extra"].get(k) or float("nan")) for r in rs])[0]
                                   for k in ("beta_eff", "beta_hw_calibrated", "chain_break_fraction",
                                             "num_qubits", "range_factor"))])
        out.append(markdown_table(["model", "β_eff (MPL)", "β_hw calibrated", "chain breaks",
                                   "qubits", "range factor"], mrows))
    return "\n".join(out)


def sweeps_to_floor_table(rows: list[dict], models: list[str]) -> str:
    fams = [b for b in dict.fromkeys(r["backend"] for r in rows)
            if b not in ("exact", "exact @1.15β", "mock-qpu") and not b.startswith("pcd")]
    body = []
    for fam in fams:
        for sch in (*SCHEDULES, "quench"):
            line = [f"{fam} {sch}"]
            for m in models:
                rs = [r for r in rows if r["backend"] == fam and r["schedule"] == sch and r["model"] == m]
                if not rs:
                    line.append("n/a")
                    continue
                by_k: dict[int, list[dict]] = {}
                for r in rs:
                    by_k.setdefault(r["sweeps"], []).append(r)
                good = [k for k, rr in sorted(by_k.items())
                        if all(r["quality"] and r["quality"]["within_floor"] for r in rr)]
                line.append(str(good[0]) if good else f"> {max(by_k)}")
            body.append(line)
    return markdown_table(["backend / schedule", *models], body)


# --------------------------------------------------------------------------------------- plots


def worst(row: dict, key: str) -> float:
    """The larger of the visible and hidden ratios (the verdict needs both ≤ 2)."""
    return max(row["quality"]["visible"][key], row["quality"]["hidden"][key])


def quality_plot(rows: list[dict], key: str, path: Path) -> None:
    models = list(dict.fromkeys(r["model"] for r in rows))
    fams = [b for b in dict.fromkeys(r["backend"] for r in rows)
            if b in ("annealed", "sa", "raw SA", "peer bipartite", "peer block")]
    styles = {"annealed": ("C0", "-", "o"), "sa": ("C1", "--", "s"), "raw SA": ("C2", ":", "^"),
              "peer bipartite": ("C3", "-.", "v"), "peer block": ("C4", (0, (1, 3)), "x")}
    fig, axes = plt.subplots(len(SCHEDULES), len(models), figsize=(3.0 * len(models), 2.6 * len(SCHEDULES)),
                             sharex=True, squeeze=False)
    for i, sch in enumerate(SCHEDULES):
        for j, m in enumerate(models):
            ax = axes[i][j]
            for fam in fams:
                pts = {}
                for r in rows:
                    if r["model"] == m and r["backend"] == fam and r["schedule"] == sch and r["quality"]:
                        pts.setdefault(r["sweeps"], []).append(worst(r, key))
                if not pts:
                    continue
                ks = sorted(pts)
                color, ls, mk = styles[fam]
                ax.plot(ks, [np.mean(pts[k]) for k in ks], color=color, ls=ls, marker=mk, ms=4,
                        label=fam)
                q = [worst(r, key) for r in rows if r["model"] == m
                     and r["backend"] == fam and r["schedule"] == "quench" and r["quality"]]
                if q:
                    ax.plot([2], [np.mean(q)], color=color, marker="*", ms=9, ls="none")
            for lvl, style in ((1, "-"), (2, ":")):
                ax.axhline(lvl, color="grey", lw=0.8, ls=style)
            for b, col in (("pcd-1", "C5"), ("pcd-10", "C6")):
                q = [worst(r, key) for r in rows if r["model"] == m
                     and r["backend"] == b and r["quality"]]
                if q:
                    ax.axhline(np.mean(q), color=col, lw=0.8, ls="--", label=b if i == 0 else None)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            if i == 0:
                ax.set_title(m, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{sch}\n{key.replace('_ratio', '').upper()} / floor", fontsize=8)
            if i == len(SCHEDULES) - 1:
                ax.set_xlabel("sweeps", fontsize=8)
            ax.tick_params(labelsize=7)
    handles, labels_ = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels_, loc="lower center", ncol=len(labels_), fontsize=8, frameon=False)
    fig.suptitle(f"Sample quality vs sweeps: {key.replace('_ratio', '').upper()} to exact divided by "
                 f"the i.i.d. floor, worse of the v and h marginals (N = {rows[0]['n']}, mean over seeds);"
                 " ★ = quench (2 sweeps); grey lines 1× and 2×",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------- speed


def speed_models(quick: bool):
    from rbm import BernoulliRBM, ConvRBM

    dense = [(64, 16), (256, 64), (784, 128), (784, 512)]
    conv_canvas = [8, 12, 16, 28]
    conv_filters = [4, 16, 32]
    if quick:
        dense, conv_canvas, conv_filters = [(64, 16), (784, 128)], [8, 16], [4]
    out = []
    gen = torch.Generator().manual_seed(0)
    for nv, nh in dense:
        m = BernoulliRBM(nv, nh)
        out.append(("dense", f"dense {nv}×{nh}", m, (nv,)))
    for c in conv_canvas:
        out.append(("conv canvas", f"conv {c}×{c}, 8 filters 5×5", ConvRBM(1, 8, 5), (1, c, c)))
    for k in conv_filters:
        out.append(("conv filters", f"conv 12×12, {k} filters 5×5", ConvRBM(1, k, 5), (1, 12, 12)))
    for _, _, m, _ in out:
        with torch.no_grad():
            m.weight.copy_(0.05 * torch.randn(m.weight.shape, generator=gen))
            m.visible_bias.fill_(-1.0)
    return out


def run_speed(args) -> list[dict]:
    from dwave.samplers import SimulatedAnnealingSampler

    from sampling import make_sampler
    from sampling.bqm import spec_to_bqm
    from sampling.schedules import beta_schedule, sa_parameters

    chains, sweeps, repeat = args.speed_chains, args.speed_sweeps, 3
    betas = beta_schedule("linear", 1.0, sweeps)
    rows = []
    for group, name, model, canvas in speed_models(args.quick):
        spec = model.to_qm(canvas)
        n_vars = spec.num_variables
        n_coup = int(len(spec.values))
        data = torch.zeros(1, *canvas)
        runs: dict[str, Callable[[], object]] = {}
        ann = make_sampler("annealed", num_sweeps=sweeps, num_chains=chains, canvas=canvas, seed=0)
        runs["annealed"] = partial(ann.sample, model, data)
        sa = make_sampler("sa", num_sweeps=sweeps, num_chains=chains, canvas=canvas, seed=0)
        runs["sa"] = partial(sa.sample, model, data)
        bqm = spec_to_bqm(spec)
        raw = SimulatedAnnealingSampler()
        runs["raw SA"] = partial(raw.sample, bqm, num_reads=chains, seed=0, **sa_parameters(betas))
        setup = {}
        if args.with_peer and n_coup > PEER_MAX_COUPLINGS:
            print(f"  peer skipped on {name}: {n_coup} couplings > {PEER_MAX_COUPLINGS} "
                  "(over a minute per call)", flush=True)
        elif args.with_peer:
            from dwave.plugins.torch.samplers.bipartite_sampler import BipartiteGibbsSampler

            t0 = time.perf_counter()
            grbm = peer_grbm(spec)
            peer = BipartiteGibbsSampler(grbm, num_chains=chains, schedule=betas.tolist(), seed=0)
            setup["peer bipartite"] = time.perf_counter() - t0
            runs["peer bipartite"] = peer.sample
        times: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        reps = {}
        for lab, fn in runs.items():  # warm-up; a backend slower than 5 s per call is timed once
            t0 = time.perf_counter()
            fn()
            reps[lab] = 1 if time.perf_counter() - t0 > 5 else repeat
        labels = list(runs)
        for r in range(repeat):  # interleaved rounds spread the drift of a shared machine
            for lab in labels[r % len(labels):] + labels[: r % len(labels)]:
                if len(times[lab]) >= reps[lab]:
                    continue
                t0, c0 = time.perf_counter(), time.process_time()
                runs[lab]()
                times[lab].append(time.perf_counter() - t0)
                cpu[lab].append(time.process_time() - c0)
        for lab, ts in times.items():
            # CPU seconds of this single-threaded process: robust to other jobs on a shared machine
            sec = float(np.median(cpu[lab]))
            rows.append({"group": group, "model": name, "canvas": canvas, "n_vars": n_vars,
                         "couplings": n_coup, "backend": lab, "chains": chains, "sweeps": sweeps,
                         "seconds": sec, "cpu_times": cpu[lab], "wall_times": ts,
                         "wall_seconds": float(np.median(ts)), "samples_per_s": chains / sec,
                         "spin_updates_per_s": chains * sweeps * n_vars / sec,
                         "setup_seconds": setup.get(lab)})
        print(f"speed {name}: " + ", ".join(f"{k} {np.median(v) * 1e3:.1f} ms CPU" for k, v in cpu.items()),
              flush=True)
    return rows


def power_law(rows: list[dict], backend: str, group: str, xkey: str = "couplings") -> float:
    rs = [r for r in rows if r["backend"] == backend and r["group"] == group]
    if len(rs) < 2:
        return float("nan")
    x = np.log([r[xkey] for r in rs])
    y = np.log([r["seconds"] for r in rs])
    return float(np.polyfit(x, y, 1)[0])


def speed_table(rows: list[dict]) -> str:
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    body = []
    for name in dict.fromkeys(r["model"] for r in rows):
        rs = {r["backend"]: r for r in rows if r["model"] == name}
        any_r = next(iter(rs.values()))
        line = [name, str(any_r["n_vars"]), str(any_r["couplings"])]
        for b in backends:
            r = rs.get(b)
            line.append("–" if r is None else f"{r['samples_per_s']:.3g} / {r['spin_updates_per_s']:.3g}")
        body.append(line)
    chains, sweeps = rows[0]["chains"], rows[0]["sweeps"]
    text = [f"samples/s / spin-updates/s per CPU second ({chains} chains × {sweeps} linear sweeps per call,"
            " median of up to 3; spin updates = chains × sweeps × (n_v + n_h); CPU time of the"
            " single-threaded process, so other jobs on the machine do not count):\n",
            markdown_table(["model", "variables", "couplings", *backends], body)]
    exps = [[g, *(fmt(power_law(rows, b, g), 2) for b in backends)]
            for g in dict.fromkeys(r["group"] for r in rows)]
    text.append("\nExponent α of CPU time ∝ couplingsᵅ per call (log-log fit within each group):\n")
    text.append(markdown_table(["group", *backends], exps))
    if any(r.get("setup_seconds") for r in rows):
        text.append("\nPeer set-up (GRBM + sampler construction, once per shape; seconds): "
                    + ", ".join(f"{r['model']}: {r['setup_seconds']:.2f}" for r in rows
                                if r.get("setup_seconds") is not None))
    return "\n".join(text)


def speed_plot(rows: list[dict], path: Path) -> None:
    groups = list(dict.fromkeys(r["group"] for r in rows))
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False)
    for ax, g in zip(axes[0], groups, strict=True):
        for i, b in enumerate(backends):
            rs = sorted((r for r in rows if r["group"] == g and r["backend"] == b),
                        key=lambda r: r["couplings"])
            if rs:
                ax.plot([r["couplings"] for r in rs], [r["spin_updates_per_s"] for r in rs],
                        marker="os^vx"[i % 5], label=b)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("couplings of the BQM")
        ax.set_title(g, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("spin updates / CPU second")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Sampling throughput vs problem size ({rows[0]['chains']} chains, "
                 f"{rows[0]['sweeps']} sweeps, 1 thread)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------- main


def replot(path: Path, out: Path) -> int:
    import json

    result = json.loads(path.read_text())
    suffix = "_quick" if result["args"].get("quick") else ""
    for r in result.get("quality", []):  # JSON spelled inf/nan as strings
        for side in ("visible", "hidden"):
            if r["quality"]:
                r["quality"][side] = {k: float(v) for k, v in r["quality"][side].items()}
    a = result["args"]
    command = a.get("command") or " ".join(
        ["bench/bench_sampler_quality.py"] + ["--quick"] * bool(a.get("quick"))
        + ["--with-peer"] * bool(a.get("with_peer")))
    md = [f"# Sampler quality (bench/bench_sampler_quality.py)\n\nCommand: `{command}`\n"]
    if result.get("quality"):
        table = quality_tables(result["quality"], result["args"].get("with_peer"))
        md += ["## Part A: quality vs exact\n", table]
        quality_plot(result["quality"], "kl_ratio", out / f"sampler_quality_kl{suffix}.png")
        quality_plot(result["quality"], "tv_ratio", out / f"sampler_quality_tv{suffix}.png")
    if result.get("speed"):
        table = speed_table(result["speed"])
        md += ["\n## Part B: speed vs problem size\n", table]
        speed_plot(result["speed"], out / f"sampler_speed{suffix}.png")
    m = result["machine"]
    md.append(f"\nMachine: {m.get('cpu_model')}, torch {m['torch']}, threads {m['torch_threads']}, "
              f"load {m.get('load_average_1_5_15')}; total {float(result['total_seconds']):.0f} s.")
    (out / f"sampler_quality{suffix}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few models, seeds and sweeps (~1 min)")
    p.add_argument("--seeds", default=None, help="model/sampler seeds: '3' (= 0,1,2) or '0,4,7'")
    p.add_argument("--out", default=str(common.DEFAULT_OUT), help="output folder")
    p.add_argument("--samples", type=int, default=None, help="N per measurement (10000; quick 3000)")
    p.add_argument("--with-peer", action="store_true",
                   help="add dwave-pytorch-plugin's samplers (needs /tmp/benchvenv)")
    p.add_argument("--no-mock", action="store_true", help="skip mock-qpu")
    p.add_argument("--no-speed", action="store_true", help="skip part B (speed vs size)")
    p.add_argument("--no-quality", action="store_true", help="skip part A (quality)")
    p.add_argument("--speed-chains", type=int, default=100)
    p.add_argument("--speed-sweeps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--from-json", default=None,
                   help="rebuild the tables and plots from a saved sampler_quality*.json, no runs")
    args = p.parse_args(argv)
    if args.from_json:
        return replot(Path(args.from_json), Path(args.out))
    seeds = common.parse_seeds(args.seeds or ("1" if args.quick else "3"))
    args.samples = args.samples or (3000 if args.quick else 10000)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common.set_threads(args.threads)
    if args.with_peer:
        ok, why = peer_available()
        if not ok:
            print(f"--with-peer: dwave-pytorch-plugin is not importable here ({why}).\n"
                  "Create the benchmark venv:  python3 -m venv /tmp/benchvenv && "
                  "/tmp/benchvenv/bin/pip install -r bench/requirements-bench.txt\n"
                  "and run this script with /tmp/benchvenv/bin/python.", file=sys.stderr)
            return 2
        print(f"peer: dwave-pytorch-plugin {why}", flush=True)
    import warnings

    warnings.filterwarnings("ignore", message=".*exceed the solver.*")
    import logging

    # the mock's per-call "biases exceed the solver's range" warnings: range_factor is recorded
    logging.getLogger("sampling.qpu").setLevel(logging.ERROR)
    suffix = "_quick" if args.quick else ""
    started = time.perf_counter()
    args.command = " ".join(sys.argv)
    result: dict = {"machine": common.machine_info(), "args": vars(args), "seeds": seeds}
    md = [f"# Sampler quality (bench/bench_sampler_quality.py)\n\nCommand: `{' '.join(sys.argv)}`\n"]
    if not args.no_quality:
        rows = run_quality(args, seeds)
        result["quality"] = rows
        common.write_json(out / f"sampler_quality{suffix}.json", result)  # raw data first
        table = quality_tables(rows, args.with_peer)
        print("\n" + table, flush=True)
        md += ["## Part A: quality vs exact\n", table]
        quality_plot(rows, "kl_ratio", out / f"sampler_quality_kl{suffix}.png")
        quality_plot(rows, "tv_ratio", out / f"sampler_quality_tv{suffix}.png")
    if not args.no_speed:
        srows = run_speed(args)
        result["speed"] = srows
        common.write_json(out / f"sampler_quality{suffix}.json", result)
        table = speed_table(srows)
        print("\n" + table, flush=True)
        md += ["\n## Part B: speed vs problem size\n", table]
        speed_plot(srows, out / f"sampler_speed{suffix}.png")
    result["total_seconds"] = time.perf_counter() - started
    md.append(f"\nMachine: {result['machine'].get('cpu_model')}, torch {result['machine']['torch']}, "
              f"threads {result['machine']['torch_threads']}, load {result['machine'].get('load_average_1_5_15')}; "
              f"total {result['total_seconds']:.0f} s.")
    common.write_json(out / f"sampler_quality{suffix}.json", result)
    (out / f"sampler_quality{suffix}.md").write_text("\n".join(md) + "\n")
    print(f"\ntotal {result['total_seconds']:.0f} s; wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
