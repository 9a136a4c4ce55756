"""ResilientSampler: bounded retries with backoff, fallback, clean failure, no retry of user errors."""

from __future__ import annotations

import pytest
import torch

from rbm import BernoulliRBM
from sampling import make_sampler
from sampling.resilient import ResilientSampler, SamplerFailure


class FaultyBackend:
    """A real sampler whose transport fails on chosen calls (an injected QPU/network fault)."""

    def __init__(self, inner, fail_on):
        self.inner, self.fail_on, self.calls = inner, set(fail_on), 0
        self.beta = inner.beta

    @property
    def last_info(self):
        return self.inner.last_info

    def sample(self, model, v):
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError(f"injected fault on call {self.calls}")
        return self.inner.sample(model, v)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


@pytest.fixture
def model_and_data():
    torch.manual_seed(0)
    return BernoulliRBM(6, 4), (torch.rand(8, 6) < 0.5).float()


def test_retries_with_exponential_backoff_then_succeeds(model_and_data):
    model, v = model_and_data
    waits = []
    backend = FaultyBackend(make_sampler("annealed", num_sweeps=2, seed=0), fail_on={1, 2})
    sampler = ResilientSampler(backend, retries=3, backoff=0.5, sleep=waits.append)
    v_neg, h_neg = sampler.sample(model, v)
    assert v_neg.shape == (8, 6) and h_neg.shape == (8, 4)
    assert waits == [0.5, 1.0]
    assert sampler.last_info["retries"] == 2 and sampler.last_info["fallback"] == 0
    assert sampler.last_info["sweeps"] == 2  # the backend's own info passes through


def test_fallback_after_retries_is_recorded(model_and_data, caplog):
    model, v = model_and_data
    backend = FaultyBackend(make_sampler("annealed", seed=0), fail_on={1, 2, 3})
    sampler = ResilientSampler(backend, fallback=make_sampler("cd", k=1, seed=0), retries=2,
                               backoff=0.0, sleep=lambda s: None)
    with caplog.at_level("WARNING"):
        v_neg, _ = sampler.sample(model, v)
    assert v_neg.shape == (8, 6)
    assert sampler.last_info["fallback"] == 1
    assert "using fallback GibbsSampler" in caplog.text
    # the next call goes back to the primary
    sampler.sample(model, v)
    assert sampler.last_info["fallback"] == 0 and backend.calls == 4


def test_no_fallback_raises_a_clean_failure(model_and_data):
    model, v = model_and_data
    backend = FaultyBackend(make_sampler("annealed", seed=0), fail_on=range(1, 10))
    sampler = ResilientSampler(backend, retries=2, backoff=0.0, sleep=lambda s: None)
    with pytest.raises(SamplerFailure, match="failed 3 times; last error: ConnectionError: injected fault on call 3"):
        sampler.sample(model, v)
    assert backend.calls == 3


def test_user_errors_are_not_retried(model_and_data):
    model, v = model_and_data
    sampler = ResilientSampler(make_sampler("exact", max_states=4), retries=5, backoff=10.0,
                               sleep=lambda s: pytest.fail("a ValueError must not be retried"))
    with pytest.raises(ValueError, match="max_states"):
        sampler.sample(model, v)


def test_state_dict_round_trips_persistent_chains(model_and_data):
    model, v = model_and_data
    a = ResilientSampler(make_sampler("pcd", seed=1), fallback=make_sampler("cd", seed=2))
    a.sample(model, v)
    state = a.state_dict()
    b = ResilientSampler(make_sampler("pcd", seed=99), fallback=make_sampler("cd", seed=98))
    b.load_state_dict(state)
    assert torch.equal(a.sample(model, v)[0], b.sample(model, v)[0])


@pytest.mark.parametrize("kwargs,needle", [({"retries": -1}, "retries"), ({"backoff": -1.0}, "backoff")])
def test_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        ResilientSampler(make_sampler("cd"), **kwargs)


def test_errors_marked_not_retryable_pass_straight_through(model_and_data):
    from sampling.qpu.errors import QPUUnavailableError

    model, v = model_and_data
    backend = FaultyBackend(make_sampler("cd", seed=0), fail_on=())
    backend.sample = lambda m, x: (_ for _ in ()).throw(QPUUnavailableError("no token"))
    sampler = ResilientSampler(backend, fallback=make_sampler("cd"), retries=4,
                               sleep=lambda s: pytest.fail("must not retry"))
    with pytest.raises(QPUUnavailableError):
        sampler.sample(model, v)


# ------------------------------------------------------------------ one retry layer for the QPU


class TimingOutSolver:
    """Factory of a real structured dimod sampler (dwave-system's offline Pegasus P6 graph) whose
    every submission times out, as an unreachable Leap solver's would; it counts submissions."""

    @staticmethod
    def make():
        from dwave.cloud.exceptions import RequestTimeout
        from dwave.system.testing import MockDWaveSampler

        class Solver(MockDWaveSampler):
            submissions = 0

            def sample(self, bqm, **kwargs):
                type(self).submissions += 1
                raise RequestTimeout("the solver did not answer")

        return Solver(topology_type="pegasus", topology_shape=[6], parameter_warnings=False)


def qpu_behind_resilient(solver, fallback=None):
    """The way train.py wraps a QPU sampler: make_sampler("qpu") inside ResilientSampler, both
    with their default retry counts (backend max_retries=3, --sampler-retries 3)."""
    primary = make_sampler("qpu", sampler=solver, cache_dir=False, retry_delay=0.0, seed=0)
    return ResilientSampler(primary, fallback, backoff=0.0, sleep=lambda s: None)


def test_a_failing_qpu_is_retried_by_one_layer_only(model_and_data, caplog):
    model, v = model_and_data
    solver = TimingOutSolver.make()
    sampler = qpu_behind_resilient(solver)
    with caplog.at_level("WARNING"), pytest.raises(SamplerFailure) as info:
        sampler.sample(model, v)
    assert solver.submissions == 4  # 1 + the backend's max_retries=3, not (1 + 3) x (1 + 3) = 16
    message = str(info.value)
    assert "QPUSampler" in message and "failed after 4 attempts" in message
    assert "RequestTimeout" in message and "Training stops here" not in caplog.text + message
    assert caplog.text.count("retry") == 3  # the backend's "retry 1/3" .. "retry 3/3", no more


def test_a_failing_qpu_falls_back_after_its_own_retries(model_and_data, caplog):
    model, v = model_and_data
    solver = TimingOutSolver.make()
    sampler = qpu_behind_resilient(solver, fallback=make_sampler("cd", k=1, seed=0))
    with caplog.at_level("WARNING"):
        v_neg, _ = sampler.sample(model, v)
    assert v_neg.shape == v.shape and solver.submissions == 4
    assert sampler.last_info["fallback"] == 1 and sampler.last_info["retries"] == 0
    assert "using fallback GibbsSampler" in caplog.text
