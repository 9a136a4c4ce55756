"""``python -m sampling``: draw Boltzmann samples of a BQM file from the command line.

Subcommands:

``sample PROBLEM --beta B [--num-reads N] [--method M] [--seed S] [--num-sweeps K] [--out FILE]``
    Sample exp(-β E) with :class:`sampling.boltzmann.BoltzmannSampler`, write the samples
    (``.npz``/``.csv``/``.json`` by extension) and print a summary: problem size, the method that
    ran (and why, for ``auto``), convergence diagnostics of MCMC methods (a ``warning:`` line on
    stderr when they fail), the PT ladder, exact log Z, mean energy ± std, β estimated back from
    the samples by maximum pseudo-likelihood, seconds. PT options: ``--num-replicas``,
    ``--beta-min``, ``--betas B1,B2,...``; ``--device`` for the torch methods.
``exact-check PROBLEM --beta B [...]``
    For problems of ≤ 22 variables: sample, then compare the empirical distribution with exact
    enumeration (KL and total variation next to their i.i.d. noise floor). Exit 0 when both are
    within ``--factor`` (2) × floor, 1 otherwise.

User mistakes (unreadable or malformed files, bad options, unwritable outputs, problems too large
for ``exact``) print one line ``error: ...`` on stderr and exit with status 2, leaving no output
file. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Sequence

import numpy as np

from sampling.bqm_io import ProblemFileError, check_output_path, read_bqm, write_samples
from sampling.checks import check_positive_int
from sampling.schedules import SCHEDULES

__all__ = ["build_parser", "main"]

log = logging.getLogger(__name__)

FORMATS_HELP = """\
problem files:
  .bqm        dimod's binary format (bqm.to_file(); recognised by its magic 'DIMODBQM')
  .json       dimod serialisation: json.dump(bqm.to_serializable(), f)
  other       COO text, one term per line ('#' starts a comment):
                vartype SPIN      optional, SPIN or BINARY (default --vartype, else BINARY)
                offset 0.5        optional constant
                0 -1.0            linear term     label value
                0 1 2.5           quadratic term  label label value
              labels are integers or words; repeated terms are summed;
              'i i value' is linear, except after 'vartype SPIN' (an error there);
              dimod.serialization.coo files: the '# vartype=SPIN' header is read
  a vartype declared by the file and a different --vartype is an error

sample files (--out, by extension; one row per sample):
  .npz        arrays samples (N, n) int8, energies (N,), variables (n,), vartype, beta
  .csv        header: variable labels then 'energy'; one sample per row
  .json       dimod SampleSet serialisation (sampleset.to_serializable())
"""

MAIN_EPILOG = """\
examples:
  # 20 000 samples of a QUBO at beta = 1 by simulated annealing, saved as NumPy arrays
  python -m sampling sample problem.coo --beta 1 --num-reads 20000 --seed 0 --out samples.npz

  # is the sampler on target? (problems of <= 22 variables; compares with exact enumeration)
  python -m sampling exact-check problem.coo --beta 1 --num-reads 20000 --method gibbs

run 'python -m sampling sample --help' for all options and the file formats.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: ...`` on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1, by :func:`sampling.checks.check_positive_int`'s rule."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    try:
        return check_positive_int(value, "value")
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be in [0, 2^31), got {text!r}")
    return value


def _replicas(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 2 <= value <= 256:
        raise argparse.ArgumentTypeError(f"must be an integer in [2, 256], got {text!r}")
    return value


def _ladder(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.2,0.5,1, got {text!r}"
        ) from None
    if len(values) < 2 or any(not np.isfinite(v) or v <= 0 for v in values) or any(
        b <= a for a, b in zip(values, values[1:], strict=False)
    ):
        raise argparse.ArgumentTypeError(
            f"expected at least 2 positive, strictly increasing numbers, got {text!r}"
        )
    return values


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m sampling`` argument parser."""
    from sampling.boltzmann import METHODS

    methods = ", ".join(METHODS)
    parser = _Parser(
        prog="python -m sampling",
        description="Draw Boltzmann samples exp(-beta E(x)) / Z of a binary quadratic model "
        "(BQM) read from a file.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("problem", metavar="PROBLEM",
                       help="BQM file: .bqm, .json or COO text (below)")
        p.add_argument("--vartype", choices=("SPIN", "BINARY"), default=None,
                       help="vartype of a problem file that declares none (default BINARY); a "
                       "file that declares another is an error")
        p.add_argument("--beta", type=_positive_float, required=True,
                       help="target inverse temperature beta > 0 (multiplies the energy as given)")
        p.add_argument("--num-reads", type=_positive_int, default=1000,
                       help="number of samples (default 1000)")
        p.add_argument("--method", default="auto",
                       help=f"sampling method: {methods} (default auto: exact enumeration, else "
                       "exact tree sampling when the treewidth allows, else parallel tempering)")
        p.add_argument("--seed", type=_seed, default=None, help="random seed in [0, 2^31)")
        p.add_argument("--num-sweeps", type=_positive_int, default=None,
                       help="sweeps per read for sa/gibbs (default 1000); sa anneals over the "
                       "first quarter and samples at beta for the rest")
        p.add_argument("--schedule", choices=SCHEDULES, default=None,
                       help="sa beta schedule (default geometric ramp then beta); 'quench' is "
                       "one hot sweep and one at beta")
        p.add_argument("--num-replicas", type=_replicas, default=None,
                       help="pt: rungs of the beta ladder, 2..256 (default from the problem size)")
        p.add_argument("--beta-min", type=_positive_float, default=None,
                       help="pt: hottest rung, below --beta (default 0.1 x beta)")
        p.add_argument("--betas", type=_ladder, default=None, metavar="B1,B2,...",
                       help="pt: explicit ladder, increasing and ending at --beta (not adapted)")
        p.add_argument("--device", default=None,
                       help="torch device for gibbs/pt/auto (default cpu), e.g. cuda")

    p_sample = sub.add_parser(
        "sample",
        help="sample a problem file and write the samples",
        description="Sample exp(-beta E) of the BQM in PROBLEM, write the samples to --out and\n"
        "print a summary: mean energy, beta estimated back from the samples by maximum\n"
        "pseudo-likelihood, seconds.",
        epilog="example:\n  python -m sampling sample problem.coo --beta 1 --num-reads 20000 "
        "--seed 0 --out samples.npz\n\n" + FORMATS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(p_sample)
    p_sample.add_argument("--out", metavar="FILE", default=None,
                          help="sample file (.npz, .csv or .json); omit to print the summary only")

    p_check = sub.add_parser(
        "exact-check",
        help="compare a sampler with exact enumeration (problems of <= 22 variables)",
        description="Sample PROBLEM and compare the empirical distribution with the exact Boltzmann\n"
        "distribution: KL(empirical || exact) and total variation next to their i.i.d. noise\n"
        "floor (the distance N exact samples would have). Exit status 0 when both are within\n"
        "--factor x floor, 1 otherwise.",
        epilog="example:\n  python -m sampling exact-check problem.coo --beta 2 --num-reads 20000 "
        "--method gibbs --num-sweeps 200\n\n" + FORMATS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(p_check)
    p_check.add_argument("--factor", type=_positive_float, default=2.0,
                         help="pass when KL and TV are <= factor x their noise floor (default 2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for user errors, printed as one ``error:`` line)."""
    from sampling.boltzmann import SamplerArgumentError
    from sampling.qpu.errors import QPUSamplingError, QPUUnavailableError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s")
    try:
        if args.command == "sample":
            return _cmd_sample(args)
        return _cmd_exact_check(args)
    except (ProblemFileError, SamplerArgumentError, QPUUnavailableError, QPUSamplingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _sample(args: argparse.Namespace, bqm):
    from sampling.boltzmann import METHODS, BoltzmannSampler, SamplerArgumentError, method_options

    options = {}
    if args.num_sweeps is not None:
        options["num_sweeps"] = args.num_sweeps
    if args.schedule is not None:
        options["schedule"] = args.schedule
    for name in ("num_replicas", "beta_min", "betas", "device"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.method in METHODS:  # an unknown method is reported by the sampler
        accepted = method_options(args.method)
        for name in options:
            if accepted is not None and name not in accepted:
                raise SamplerArgumentError(
                    f"--{name.replace('_', '-')} does not apply to method {args.method!r}"
                )
    log.info("sampling %d reads with method %s at beta=%g", args.num_reads, args.method, args.beta)
    from sampling.convergence import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        ss = BoltzmannSampler().sample(bqm, beta=args.beta, num_reads=args.num_reads,
                                       method=args.method, seed=args.seed, **options)
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return ss


def _method_lines(info: dict) -> list[str]:
    """Summary lines about the method that ran: choice, convergence, ladder, exact log Z."""
    lines = []
    if "reason" in info:
        lines.append(f"auto chose {info['method']}: {info['reason']}")
    conv = info.get("convergence")
    if conv is not None and conv.get("rhat") is not None:
        verdict = "converged" if conv["converged"] else "NOT CONVERGED"
        lines.append(f"convergence: split R-hat of the energy {conv['rhat']:.4f} "
                     f"(<= {conv['rhat_max']}), ESS {conv['ess']:.0f} over {conv['num_chains']} "
                     f"chains x {conv['trace_points']} points: {verdict}")
    if "swap_acceptance" in info:
        acc = np.asarray(info["swap_acceptance"])
        lines.append(f"pt: {info['num_replicas']} replicas, betas {info['betas'][0]:.4g}.."
                     f"{info['betas'][-1]:.4g}, swap acceptance {acc.min():.2f}-{acc.max():.2f}, "
                     f"{info['round_trips']} round trips")
    if "log_partition_function" in info:
        lines.append(f"exact: log Z = {info['log_partition_function']:.10g}"
                     + (f", treewidth {info['treewidth']}" if "treewidth" in info else ""))
    return lines


def _read_problem(path: str, vartype: str | None = None):
    bqm = read_bqm(path, vartype=vartype)
    if bqm.num_variables == 0:
        raise ProblemFileError(f"{path}: the problem has no variables")
    return bqm


def _cmd_sample(args: argparse.Namespace) -> int:
    from sampling.diagnostics import estimate_beta

    t0 = time.perf_counter()
    if args.out is not None:
        check_output_path(args.out)  # fail before sampling, not after
    bqm = _read_problem(args.problem, args.vartype)
    ss = _sample(args, bqm)
    if args.out is not None:
        write_samples(ss, args.out, variables=bqm.variables)
    energies = np.repeat(ss.record.energy, ss.record.num_occurrences)
    try:
        beta_hat, stderr = estimate_beta(bqm, ss, return_stderr=True)
        beta_text = f"{beta_hat:.4g} ± {stderr:.2g}" if np.isfinite(stderr) else f"{beta_hat:.4g}"
    except ValueError as exc:  # e.g. a model without couplings or fields
        beta_text = f"n/a ({exc})"
    print(f"problem: {args.problem} ({bqm.num_variables} variables, {bqm.num_interactions} "
          f"interactions, {bqm.vartype.name})")
    print(f"method: {ss.info['method']}, beta {args.beta:g}, {len(energies)} samples"
          + (f", {ss.info['num_sweeps']} sweeps" if "num_sweeps" in ss.info else "")
          + (f", {ss.info['engine']} engine" if "engine" in ss.info else ""))
    for line in _method_lines(ss.info):
        print(line)
    print(f"energy: mean {energies.mean():.6g} ± {energies.std():.3g} (std)")
    print(f"beta estimated from the samples (max. pseudo-likelihood): {beta_text}")
    if args.out is not None:
        print(f"wrote: {args.out}")
    print(f"seconds: {time.perf_counter() - t0:.2f}")
    return 0


def _cmd_exact_check(args: argparse.Namespace) -> int:
    from sampling.boltzmann import SamplerArgumentError
    from sampling.diagnostics import compare_to_exact, within_noise_floor
    from sampling.enumeration import check_enumerable, exact_distribution

    t0 = time.perf_counter()
    bqm = _read_problem(args.problem, args.vartype)
    try:
        check_enumerable(bqm, what="exact-check", subject=str(args.problem),
                         hint="compare a smaller problem")
    except ValueError as error:
        raise SamplerArgumentError(str(error)) from None
    ss = _sample(args, bqm)
    _, probs = exact_distribution(bqm, args.beta)
    r = compare_to_exact(ss, probs, variables=bqm.variables)
    ok = within_noise_floor(r, args.factor)
    print(f"problem: {args.problem} ({bqm.num_variables} variables), method {args.method}, "
          f"beta {args.beta:g}, {r['n']} samples")
    print(f"KL(empirical || exact) = {r['kl']:.4g} nats   i.i.d. floor {r['kl_floor']:.4g}   "
          f"ratio {r['kl'] / r['kl_floor']:.2f}")
    print(f"total variation        = {r['tv']:.4g}        i.i.d. floor {r['tv_floor']:.4g}   "
          f"ratio {r['tv'] / r['tv_floor']:.2f}")
    verdict = "PASS: both within" if ok else "FAIL: not both within"
    print(f"{verdict} {args.factor:g} x the noise floor")
    print(f"seconds: {time.perf_counter() - t0:.2f}")
    return 0 if ok else 1
