"""Problem/sample file formats (sampling.bqm_io) and the ``python -m sampling`` command line.

Two CLI runs are real ``python -m sampling`` subprocesses (a round trip and a user error); each
pays ~2 s of CPU to import the package, so every other case (each output format, each user error)
calls ``sampling.cli.main(argv)`` in-process, with the same exit codes and output.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import dimod
import numpy as np
import pytest

from sampling.bqm_io import (
    ProblemFileError,
    check_output_path,
    format_coo,
    parse_coo,
    read_bqm,
    read_samples,
    write_bqm,
    write_samples,
)
from sampling.cli import main
from sampling.diagnostics import sample_array

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




def random_bqm(n=8, seed=0, vartype="BINARY", labels=None):
    rng = np.random.default_rng(seed)
    labels = list(range(n)) if labels is None else labels
    h = {labels[i]: rng.normal() for i in range(n)}
    J = {(labels[i], labels[j]): rng.normal() for i in range(n) for j in range(i + 1, n)
         if rng.random() < 0.5}
    return dimod.BinaryQuadraticModel.from_ising(h, J, 0.25).change_vartype(vartype, inplace=False)


# --------------------------------------------------------------------------- problem files


def test_coo_parsing_rules():
    bqm = parse_coo(
        "# a comment\n"
        "vartype SPIN\n"
        "offset 0.5\n"
        "\n"
        "0 -1.0   # field on 0\n"
        "0 1 2.5\n"
        "1 0 0.5\n"          # same pair: summed
        "a b -1\n"
        "0 0.25\n"           # repeated linear: summed
    )
    assert bqm.vartype is dimod.SPIN and bqm.offset == 0.5
    assert bqm.linear[0] == -0.75 and bqm.quadratic[0, 1] == 3.0 and bqm.quadratic["a", "b"] == -1
    default = parse_coo("0 1 1.0\n2 2 -3\n")
    assert default.vartype is dimod.BINARY and default.linear[2] == -3.0  # i i v is linear


@pytest.mark.parametrize(
    "text, match",
    [
        ("0 1 1.0\n1 2 x\n", r"line 2: 'x' is not a number"),
        ("0 1 1.0\n\n0 1 2 3\n", r"line 3: expected 'label value', 'label label value'"),
        ("vartype ISING\n0 1\n", r"line 1: vartype must be SPIN or BINARY"),
        ("vartype SPIN\nvartype SPIN\n", r"line 2: vartype given twice"),
        ("0 1 nan\n", r"line 1: value 'nan' is not finite"),
        ("vartype SPIN\n0 0 1.0\n", r"line 2: a diagonal term 'i i value' in a SPIN model"),
        ("# nothing\n\n", r"no linear or quadratic terms"),
    ],
)
def test_coo_errors_name_the_line(text, match):
    with pytest.raises(ProblemFileError, match=match):
        parse_coo(text, "p.coo")


@pytest.mark.parametrize("ext", [".json", ".coo", ".bqm"])
@pytest.mark.parametrize("vartype", ["SPIN", "BINARY"])
def test_problem_round_trip(tmp_path, ext, vartype):
    labels = list(range(8)) if ext == ".coo" else ["a", ("b", 1), 2, "c", "d", "e", "f", "g"]
    bqm = random_bqm(vartype=vartype, labels=labels)
    path = tmp_path / f"p{ext}"
    write_bqm(bqm, path)
    back = read_bqm(path)
    assert back == bqm and back.vartype is bqm.vartype and back.offset == bqm.offset


def write_with_dimod(bqm, path, writer):
    """Write ``bqm`` with one of dimod's own writers (no code of ours involved)."""
    if writer == "coo-header":
        from dimod.serialization import coo

        with open(path, "w") as f:
            coo.dump(bqm, f, vartype_header=True)
    elif writer == "to_file":
        with open(path, "wb") as f:
            f.write(bqm.to_file().read())
    else:  # "serializable"
        with open(path, "w") as f:
            json.dump(bqm.to_serializable(), f)


@pytest.mark.parametrize("writer,name", [("coo-header", "p.coo"), ("coo-header", "p.txt"),
                                         ("to_file", "p.bqm"), ("to_file", "p.dat"),
                                         ("serializable", "p.json")])
@pytest.mark.parametrize("vartype", ["SPIN", "BINARY"])
def test_files_written_by_dimod_read_back_equal(tmp_path, writer, name, vartype):
    """dimod's COO writes fields as 'i i value' under a '# vartype=...' header; to_file() starts
    with the magic b'DIMODBQM' (read whatever the extension)."""
    bqm = random_bqm(vartype=vartype)
    bqm.offset = 0.0 if writer == "coo-header" else bqm.offset  # dimod's COO has no offset
    bqm = dimod.BinaryQuadraticModel(  # dimod's COO writes 6 decimals: make them exact
        {v: round(b, 3) for v, b in bqm.linear.items()},
        {uv: round(b, 3) for uv, b in bqm.quadratic.items()}, bqm.offset, bqm.vartype)
    path = tmp_path / name
    write_with_dimod(bqm, path, writer)
    back = read_bqm(path)
    assert back.vartype is bqm.vartype
    assert back == bqm
    assert read_bqm(path, vartype=vartype) == bqm  # agreeing with the declaration is fine


@pytest.mark.parametrize("writer,name", [("coo-header", "p.coo"), ("to_file", "p.bqm"),
                                         ("serializable", "p.json")])
def test_a_vartype_that_conflicts_with_the_file_is_an_error(tmp_path, writer, name):
    bqm = random_bqm(vartype="SPIN")
    path = tmp_path / name
    write_with_dimod(bqm, path, writer)
    with pytest.raises(ProblemFileError, match=r"declares vartype SPIN.*BINARY was requested"):
        read_bqm(path, vartype="BINARY")


@pytest.mark.parametrize("text,match", [
    ("# vartype=SPIN\nvartype BINARY\n0 1 1.0\n", r"line 2: vartype BINARY conflicts with"),
    ("# vartype=BINARY\n# vartype=SPIN\n0 1 1.0\n", r"line 2: vartype SPIN conflicts with"),
    ("# vartype=ISING\n0 1 1.0\n", r"line 1: vartype must be SPIN or BINARY, got 'ISING'"),
])
def test_conflicting_or_unknown_vartype_declarations_are_errors(text, match):
    with pytest.raises(ProblemFileError, match=match):
        parse_coo(text, "p.coo")


def test_undeclared_vartype_comes_from_the_caller_else_binary():
    assert parse_coo("0 1 1.0\n").vartype is dimod.BINARY
    assert parse_coo("0 1 1.0\n", vartype="SPIN").vartype is dimod.SPIN
    assert parse_coo("# a comment about vartypes\n0 1 1.0\n").vartype is dimod.BINARY


def test_a_bqm_file_that_is_not_dimods_format_is_refused(tmp_path):
    (tmp_path / "p.bqm").write_text("0 1 1.0\n")
    with pytest.raises(ProblemFileError, match=r"p.bqm: not a dimod BQM file.*DIMODBQM"):
        read_bqm(tmp_path / "p.bqm")
    (tmp_path / "cut.bqm").write_bytes(random_bqm().to_file().read()[:40])
    with pytest.raises(ProblemFileError, match=r"cut.bqm: malformed dimod BQM file"):
        read_bqm(tmp_path / "cut.bqm")


def test_coo_refuses_labels_it_cannot_read_back(tmp_path):
    for label in ["two words", "7", ("t", 1), "offset"]:
        with pytest.raises(ProblemFileError, match="cannot be written to a COO file"):
            format_coo(dimod.BinaryQuadraticModel({label: 1.0}, {}, 0.0, "BINARY"))
    assert not list(tmp_path.iterdir())


def test_read_bqm_errors(tmp_path):
    (tmp_path / "bad.json").write_text('{"type": "BinaryQuadraticModel",\n "x": }')
    (tmp_path / "other.json").write_text('{"type": "SampleSet"}')
    (tmp_path / "bin.coo").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ProblemFileError, match=r"bad.json: line 2: invalid JSON"):
        read_bqm(tmp_path / "bad.json")
    with pytest.raises(ProblemFileError, match="not a dimod BQM serialisation"):
        read_bqm(tmp_path / "other.json")
    with pytest.raises(ProblemFileError, match="not a text file"):
        read_bqm(tmp_path / "bin.coo")
    with pytest.raises(ProblemFileError, match="no such file"):
        read_bqm(tmp_path / "missing.coo")
    with pytest.raises(ProblemFileError, match="is a directory"):
        read_bqm(tmp_path)


# --------------------------------------------------------------------------- sample files


@pytest.mark.parametrize("ext", [".npz", ".csv", ".json"])
@pytest.mark.parametrize("labels", [None, ["x", "y", "z", "w"]])
def test_sample_file_round_trip(tmp_path, ext, labels):
    bqm = random_bqm(4, vartype="SPIN", labels=labels)
    ss = dimod.SampleSet.from_samples_bqm(
        ([[1, -1, 1, 1], [-1, -1, 1, -1]], list(bqm.variables)), bqm, num_occurrences=[2, 1]
    )
    ss.info["beta"] = 0.5
    path = tmp_path / f"s{ext}"
    write_samples(ss, path, variables=bqm.variables)
    back = read_samples(path)
    assert list(back.variables) == list(bqm.variables) and back.vartype is dimod.SPIN
    order = list(bqm.variables)
    want, w = sample_array(ss, order)  # in bqm order (from_samples_bqm sorted the columns)
    want = np.repeat(want, w.astype(int), axis=0)
    got, gw = sample_array(back, order)
    got = np.repeat(got, gw.astype(int), axis=0)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(np.repeat(back.record.energy, back.record.num_occurrences),
                               bqm.energies((want, order)))
    if ext == ".npz":
        with np.load(path) as data:
            assert data["samples"].shape == (3, 4) and data["samples"].dtype == np.int8
            assert float(data["beta"]) == 0.5 and str(data["vartype"]) == "SPIN"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


def test_check_output_path(tmp_path):
    assert check_output_path(tmp_path / "a.NPZ") == ".npz"
    with pytest.raises(ProblemFileError, match=r"unsupported output extension '.txt'"):
        check_output_path(tmp_path / "a.txt")
    with pytest.raises(ProblemFileError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "a.csv")
    (tmp_path / "d.json").mkdir()
    with pytest.raises(ProblemFileError, match="is a directory"):
        check_output_path(tmp_path / "d.json")


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    ss = dimod.SampleSet.from_samples(([[0, 1]], "ab"), "BINARY", energy=[0.0])

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_samples(ss, tmp_path / "s.npz")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A directory with problem files: p.json / p.coo (the same 8-variable model, SPIN / BINARY),
    words.coo (string labels), big.coo (23 variables), cube.coo (6x6x6 lattice, treewidth > 25),
    bad.coo and bad.json; spin.coo is the SPIN model written by dimod's own COO writer (a
    '# vartype=SPIN' header)."""
    work = tmp_path_factory.mktemp("cli")
    spin = random_bqm(8, seed=1, vartype="SPIN")
    write_bqm(spin, work / "p.json")
    write_bqm(spin.change_vartype("BINARY", inplace=False), work / "p.coo")
    write_bqm(random_bqm(6, seed=2, labels=list("abcdef")), work / "words.coo")
    write_bqm(dimod.BinaryQuadraticModel({i: 0.1 for i in range(23)}, {}, 0, "BINARY"),
              work / "big.coo")
    cube = [(f"{a}_{b}_{c}", f"{a + da}_{b + db}_{c + dc}") for a in range(6) for b in range(6)
            for c in range(6) for da, db, dc in ((1, 0, 0), (0, 1, 0), (0, 0, 1))
            if max(a + da, b + db, c + dc) < 6]
    write_bqm(dimod.BinaryQuadraticModel.from_ising({}, {e: 1.0 for e in cube}), work / "cube.coo")
    (work / "bad.coo").write_text("# problem\n0 1 1.0\n1 2 oops\n")
    (work / "bad.json").write_text("{ not json")
    write_with_dimod(spin, work / "spin.coo", "coo-header")
    return work


def _subprocess(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sampling", *args], cwd=cwd, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": REPO},
    )


COMMON = ["--beta", "1.5", "--num-reads", "500", "--seed", "3", "--num-sweeps", "50"]
#: Real ``python -m sampling`` processes: a round trip and a user error. Every process imports the
#: sampling package and dimod (~1 s; torch is not imported; more on a loaded machine), so these two run
#: side by side and every other case calls ``main(argv)`` in-process, on the same code path.
SUBPROCESS_CASES = {
    "npz": ["sample", "p.coo", *COMMON, "--out", "sub.npz"],
    "bad-file": ["sample", "bad.coo", "--beta", "1", "--out", "sub-err.npz"],
}


@pytest.fixture(scope="module")
def procs(work):
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(_subprocess, a, work) for k, a in SUBPROCESS_CASES.items()}
        return {name: f.result() for name, f in futures.items()}


def run_main(capsys, *args):
    """``python -m sampling ARGS`` in-process: (exit status, stdout, stderr)."""
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: --help, usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_help_teaches_with_examples(capsys):
    rc, text, _ = run_main(capsys, "--help")
    assert rc == 0 and "python -m sampling sample problem.coo --beta 1" in text
    rc, text, _ = run_main(capsys, "sample", "--help")
    assert rc == 0
    for needle in ("--num-sweeps", "vartype SPIN", "label label value", ".npz", ".csv", ".json",
                   "example:"):
        assert needle in text


def test_subprocess_round_trip_and_errors(procs, work):
    proc = procs["npz"]
    assert proc.returncode == 0, proc.stderr
    ss = read_samples(work / "sub.npz")
    bqm = read_bqm(work / "p.coo")
    assert len(ss) == 500 and ss.vartype is dimod.BINARY
    np.testing.assert_allclose(ss.record.energy, bqm.energies(ss))
    assert "wrote: sub.npz" in proc.stdout and proc.stderr == ""
    p = procs["bad-file"]
    assert p.returncode == 2 and p.stdout == "", (p.stdout, p.stderr)
    assert p.stderr == "error: bad.coo: line 3: 'oops' is not a number\n", p.stderr
    assert not (work / "sub-err.npz").exists()
    assert not [p.name for p in work.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "problem, extra, out",
    [
        ("p.coo", [*COMMON], "out.npz"),
        ("p.json", [*COMMON, "--method", "gibbs"], "out.csv"),
        ("words.coo", ["--beta", "0.7", "--num-reads", "300", "--seed", "1", "--method", "exact"],
         "out.json"),
    ],
)
def test_sample_round_trip(capsys, work, problem, extra, out):
    rc, stdout, stderr = run_main(capsys, "sample", work / problem, *extra, "--out", work / out)
    assert rc == 0, stderr
    bqm = read_bqm(work / problem)
    ss = read_samples(work / out)
    assert len(ss) == (300 if out == "out.json" else 500)
    assert list(ss.variables) == list(bqm.variables)
    np.testing.assert_allclose(ss.record.energy, bqm.energies(ss))
    energies = np.repeat(ss.record.energy, ss.record.num_occurrences)
    assert f"mean {energies.mean():.6g}" in stdout
    for needle in (f"({bqm.num_variables} variables", "pseudo-likelihood", "wrote: ", "seconds:"):
        assert needle in stdout
    if out == "out.json":
        assert json.loads((work / out).read_text())["type"] == "SampleSet"
        assert ss.info["method"] == "exact" and ss.info["beta"] == 0.7


def test_a_dimod_spin_file_is_sampled_as_spin(capsys, work):
    rc, out, err = run_main(capsys, "sample", work / "spin.coo", *COMMON)
    assert rc == 0, err
    assert "(8 variables" in out and "SPIN)" in out


def test_summary_reports_the_mpl_beta(capsys, work):
    rc, stdout, _ = run_main(capsys, "sample", work / "p.coo", "--beta", "1.5", "--num-reads",
                             "2000", "--seed", "0", "--method", "exact")
    assert rc == 0
    line = next(ln for ln in stdout.splitlines() if "pseudo-likelihood" in ln)
    beta_hat, stderr = (float(t) for t in line.split(":")[-1].split("±"))
    assert abs(beta_hat - 1.5) < 4 * stderr


def test_exact_check_passes_and_fails(capsys, work):
    rc, stdout, _ = run_main(capsys, "exact-check", work / "p.coo", "--beta", "1",
                             "--num-reads", "4000", "--seed", "2", "--method", "exact")
    assert rc == 0 and "KL(empirical || exact)" in stdout and "PASS" in stdout
    rc, stdout, _ = run_main(capsys, "exact-check", work / "p.coo", "--beta", "3",
                             "--num-reads", "4000", "--seed", "2", "--num-sweeps", "1",
                             "--schedule", "fixed", "--method", "sa")
    assert rc == 1 and "FAIL" in stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "missing.coo", "--beta", "1", "--out", "e.npz"], "missing.coo: no such file"),
        (["sample", "bad.coo", "--beta", "1", "--out", "e.npz"],
         "bad.coo: line 3: 'oops' is not a number"),
        (["sample", "bad.json", "--beta", "1", "--out", "e.csv"], "bad.json: line 1: invalid JSON"),
        (["sample", "p.coo", "--beta", "1", "--method", "magic", "--out", "e.npz"],
         "unknown method 'magic'; expected one of"),
        (["sample", "p.coo", "--beta", "0", "--out", "e.npz"],
         "argument --beta: must be a positive number, got '0'"),
        (["sample", "p.coo", "--beta", "nan", "--out", "e.npz"],
         "argument --beta: must be a positive number, got 'nan'"),
        (["sample", "p.coo", "--beta", "1", "--num-reads", "0", "--out", "e.npz"],
         "argument --num-reads: must be an integer >= 1, got '0'"),
        (["sample", "p.coo", "--beta", "1", "--num-reads", "1.5", "--out", "e.npz"],
         "argument --num-reads: expected an integer, got '1.5'"),
        (["sample", "p.coo", "--beta", "1", "--out", "e.txt"],
         "e.txt: unsupported output extension '.txt'; use one of .npz, .csv, .json"),
        (["sample", "p.coo", "--beta", "1", "--out", "nodir/e.npz"], "does not exist"),
        (["sample", "p.coo", "--beta", "1", "--out", "."], "unsupported output extension"),
        (["sample", "big.coo", "--beta", "1", "--method", "exact", "--out", "e.npz"],
         "method 'exact' enumerates all 2^n states and is limited to 22 variables"),
        (["exact-check", "big.coo", "--beta", "1"],
         "exact-check enumerates all 2^n states and is limited to 22 variables"),
        (["sample", "p.coo", "--beta", "1", "--method", "exact", "--num-sweeps", "5",
          "--out", "e.npz"], "--num-sweeps does not apply to method 'exact'"),
        (["sample", "p.coo"], "the following arguments are required: --beta"),
        (["sample", "spin.coo", "--beta", "1", "--vartype", "BINARY", "--out", "e.npz"],
         "spin.coo: the file declares vartype SPIN (line 1) but BINARY was requested"),
        (["sample", "p.coo", "--beta", "1", "--vartype", "ISING"], "argument --vartype: invalid"),
        (["sample", "p.coo", "--beta", "1", "--method", "pt", "--num-replicas", "1",
          "--out", "e.npz"], "argument --num-replicas: must be an integer in [2, 256], got '1'"),
        (["sample", "p.coo", "--beta", "1", "--method", "pt", "--betas", "0.5,0.2,1",
          "--out", "e.npz"], "argument --betas: expected at least 2 positive, strictly increasing"),
        (["sample", "p.coo", "--beta", "1", "--method", "pt", "--betas", "0.2,0.5",
          "--out", "e.npz"], "betas must end at the target beta=1, got last rung 0.5"),
        (["sample", "p.coo", "--beta", "1", "--method", "pt", "--beta-min", "2",
          "--out", "e.npz"], "beta_min must be in (0, beta=1), got 2.0"),
        (["sample", "cube.coo", "--beta", "1", "--method", "tree", "--out", "e.npz"],
         "method 'tree' needs a treewidth of at most 25; this problem's elimination order"),
    ],
)
def test_user_errors_are_one_line_exit_2_and_leave_no_file(capsys, work, monkeypatch, args,
                                                           message):
    monkeypatch.chdir(work)
    before = sorted(p.name for p in work.iterdir())
    rc, stdout, stderr = run_main(capsys, *args)
    assert rc == 2, (stdout, stderr)
    assert stdout == "" and stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    assert message in stderr
    assert sorted(p.name for p in work.iterdir()) == before  # no output, no temporary file


def test_sample_prints_method_choice_convergence_and_ladder(capsys, work):
    rc, stdout, _ = run_main(capsys, "sample", work / "p.coo", "--beta", "1", "--num-reads", "50",
                             "--seed", "0")
    assert rc == 0 and "auto chose exact: 8 variables <= 22" in stdout and "method: exact" in stdout
    rc, stdout, stderr = run_main(capsys, "sample", work / "p.coo", "--beta", "1", "--num-reads",
                                  "200", "--seed", "0", "--method", "pt", "--num-sweeps", "200",
                                  "--num-replicas", "4", "--beta-min", "0.2")
    assert rc == 0 and "pt: 4 replicas, betas 0.2..1, swap acceptance" in stdout
    assert "convergence: split R-hat of the energy" in stdout
    rc, stdout, stderr = run_main(capsys, "sample", work / "p.coo", "--beta", "3", "--num-reads",
                                  "200", "--seed", "0", "--method", "sa", "--num-sweeps", "8",
                                  "--schedule", "fixed")
    assert rc == 0 and "NOT CONVERGED" in stdout
    assert stderr.startswith("warning: method 'sa' did not converge"), stderr


def test_internal_bugs_keep_their_traceback(capsys, work, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("sampling.cli.write_samples", broken)
    with pytest.raises(ZeroDivisionError):
        main(["sample", str(work / "p.coo"), "--beta", "1", "--num-reads", "5",
              "--num-sweeps", "2", "--out", str(work / "bug.npz")])
    assert not (work / "bug.npz").exists()
