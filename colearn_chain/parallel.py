"""Learners in other processes: ``run --workers N`` (local processes) and ``run --ray ADDRESS`` (Ray).

The experiment loop is written once against :class:`~colearn_chain.interface.MachineLearningInterface`;
here each learner is a :class:`RemoteLearner` whose state lives in a worker (a process of the
standard library's process pool, or a Ray actor), built there from the experiment's settings, so
no model or data set crosses a process boundary at start. Learner ``i`` lives in worker
``i mod N`` for the whole run: its state (current model, proposal counter, privacy accountant)
never moves, so each learner sees exactly the calls, in exactly the order, it sees in one
process, and the run's votes and hashes are the serial run's (tested).

The loop gets its parallelism from :func:`call_each`: it starts a call on every learner of a
phase (every contributor trains, every voter tests, everyone adopts) and then collects the
results in learner order. Local learners are simply called in turn.
"""

from __future__ import annotations

import abc
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self

from colearn_chain.errors import ColearnRuntimeError, ColearnValueError
from colearn_chain.interface import ColearnModel, MachineLearningInterface, ProposedWeights, Weights

if TYPE_CHECKING:
    from colearn_chain.simulation import RunSettings

#: Attribute values a remote learner's proxy answers locally (read once, when it is built).
_PLAIN = (str, int, float, bool, type(None))


class Pending(Protocol):
    """A call under way: a ``concurrent.futures.Future`` (Ray's object references give one too)."""

    def result(self) -> Any: ...


class WorkerLost(ColearnRuntimeError):
    """A worker holding learners died (killed, out of memory): their state is gone, the run cannot go on."""


@dataclass(frozen=True)
class _Guarded:
    """A worker's call under way; a dead worker is a :class:`WorkerLost` naming it, not the pool's error."""

    pending: Pending
    lost: tuple[type[BaseException], ...]
    where: str

    def result(self) -> Any:
        try:
            return self.pending.result()
        except self.lost as exc:
            raise WorkerLost(
                f"{self.where} holding learners stopped ({type(exc).__name__}): the run cannot go on"
            ) from exc


@dataclass(frozen=True)
class LearnerFacts:
    """What a worker says about one learner it built: its methods, and its plain attributes."""

    methods: frozenset[str]
    values: Mapping[str, Any]


# ------------------------------------------------------------------ inside a worker
#: The learners this worker process holds, by index (module state: one dict per process).
_HELD: dict[int, MachineLearningInterface] = {}


def build_held(settings: RunSettings, indices: Sequence[int]) -> dict[int, LearnerFacts]:
    """Build learners ``indices`` of ``settings`` in this process; what each can do.

    The same construction as in one process (:func:`colearn_chain.simulation.make_learner_source`):
    same seed, same shard, same initial weights. A user's learner is checked here, as ``run``
    checks it in one process.
    """
    from colearn_chain.check import check_learner
    from colearn_chain.simulation import make_learner_source

    source = make_learner_source(settings)
    source.check_partition(settings.partition)
    facts: dict[int, LearnerFacts] = {}
    for index in indices:
        learner = source.make_learner(index, settings.learners, settings.seed, partition=settings.partition)
        if settings.learner is not None:
            check_learner(learner, fast=True)
        _HELD[index] = learner
        facts[index] = _facts_of(learner)
    return facts


def _facts_of(learner: MachineLearningInterface) -> LearnerFacts:
    methods, values = set(), {}
    for name in dir(learner):
        if name.startswith("_"):
            continue
        try:
            value = getattr(learner, name)
        except Exception:  # a property that cannot be read now is not offered
            continue
        if callable(value):
            methods.add(name)
        elif isinstance(value, _PLAIN):
            values[name] = value
    return LearnerFacts(frozenset(methods), values)


def call_held(index: int, method: str, args: tuple[Any, ...]) -> Any:
    """Call ``method`` on held learner ``index``; a test's verdict comes back without the weights sent."""
    learner = _HELD.get(index)
    if learner is None:
        raise ColearnRuntimeError(f"learner {index} is not held by this worker")
    result = getattr(learner, method)(*args)
    if isinstance(result, ProposedWeights):  # the caller has the weights it sent: return only the verdict
        return (result.vote_score, result.test_score, result.vote)
    return result


# ------------------------------------------------------------------ in the driver
class LearnerPool(abc.ABC):
    """Workers holding the learners of one experiment; learner ``i`` lives in worker ``i mod N``."""

    def __init__(self, settings: RunSettings, workers: int) -> None:
        if workers < 1:
            raise ColearnValueError(f"--workers must be at least 1 (got {workers})")
        self.settings = settings
        self.workers = min(workers, settings.learners)

    def indices_of(self, worker: int) -> list[int]:
        return list(range(worker, self.settings.learners, self.workers))

    @abc.abstractmethod
    def start(self) -> list[RemoteLearner]:
        """Build every learner in its worker; the proxies, in learner order."""

    @abc.abstractmethod
    def submit(self, index: int, method: str, args: tuple[Any, ...]) -> Pending:
        """Start ``method(*args)`` on learner ``index`` in its worker."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the workers (the learners' state is gone with them)."""

    def _proxies(self, facts: Mapping[int, LearnerFacts]) -> list[RemoteLearner]:
        return [RemoteLearner(self, index, facts[index]) for index in range(self.settings.learners)]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProcessLearnerPool(LearnerPool):
    """``--workers N``: N local processes (one single-process pool of the standard library each).

    One executor per worker pins each learner to one process, which a shared pool cannot
    promise. Workers are spawned, not forked: the driver holds the embedded chain's thread and
    torch's thread pool, which a forked child must not inherit.
    """

    def __init__(self, settings: RunSettings, workers: int) -> None:
        super().__init__(settings, workers)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["colearn_chain.parallel", "colearn_chain.simulation", "torch"])
        self._executors = [ProcessPoolExecutor(max_workers=1, mp_context=context) for _ in range(self.workers)]

    def start(self) -> list[RemoteLearner]:
        settings = self.settings
        started = [pool.submit(build_held, settings, self.indices_of(w)) for w, pool in enumerate(self._executors)]
        facts: dict[int, LearnerFacts] = {}
        for worker, future in enumerate(started):
            facts.update(_Guarded(future, (BrokenProcessPool,), f"worker process {worker}").result())
        return self._proxies(facts)

    def submit(self, index: int, method: str, args: tuple[Any, ...]) -> Pending:
        worker = index % self.workers
        try:
            future = self._executors[worker].submit(call_held, index, method, args)
        except BrokenProcessPool as exc:
            raise WorkerLost(f"worker process {worker} holding learners stopped: the run cannot go on") from exc
        return _Guarded(future, (BrokenProcessPool,), f"worker process {worker}")

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True, cancel_futures=True)


class RayLearnerPool(LearnerPool):
    """``--ray ADDRESS``: N Ray actors (one CPU each) on a cluster, each holding its learners.

    ``address`` is what ``ray.init`` takes: ``HOST:PORT`` of a running head, ``auto`` for the
    cluster this machine belongs to, ``local`` to start one here for the run. Every node needs
    colearn-chain installed (the actors build the learners from the settings, as processes do).
    """

    def __init__(self, settings: RunSettings, workers: int | None, address: str) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ColearnValueError("--ray needs Ray: pip install 'colearn-chain[ray]'") from exc
        self._ray: Any = ray  # Ray's handles are dynamic (``.remote``): typed as Any here
        self._owns_session = not ray.is_initialized()
        if self._owns_session:
            try:
                ray.init(address=None if address == "local" else address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ColearnValueError(f"--ray {address}: cannot join the Ray cluster: {exc}") from exc
        cpus = int(self._ray.cluster_resources().get("CPU", 1))
        super().__init__(settings, workers if workers is not None else max(1, cpus))
        holder = self._ray.remote(num_cpus=1)(LearnerActor)
        self._actors: list[Any] = [holder.remote() for _ in range(self.workers)]

    def start(self) -> list[RemoteLearner]:
        ray = self._ray
        started = [actor.build.remote(self.settings, self.indices_of(w)) for w, actor in enumerate(self._actors)]
        facts: dict[int, LearnerFacts] = {}
        for worker, ref in enumerate(started):
            facts.update(_Guarded(ref.future(), (ray.exceptions.RayActorError,), f"Ray actor {worker}").result())
        return self._proxies(facts)

    def submit(self, index: int, method: str, args: tuple[Any, ...]) -> Pending:
        worker = index % self.workers
        future: Future[Any] = self._actors[worker].call.remote(index, method, args).future()
        return _Guarded(future, (self._ray.exceptions.RayActorError,), f"Ray actor {worker}")

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._owns_session:
            self._ray.shutdown()


class LearnerActor:
    """The body of a Ray actor: the same two calls as a worker process (its own module state)."""

    def build(self, settings: RunSettings, indices: Sequence[int]) -> dict[int, LearnerFacts]:
        return build_held(settings, indices)

    def call(self, index: int, method: str, args: tuple[Any, ...]) -> Any:
        return call_held(index, method, args)


class RemoteLearner(MachineLearningInterface):
    """A learner held by a worker: each call runs there, in order; the proxy holds no state.

    Besides colearn's five methods, the learner's other public methods (the abilities
    aggregators ask for, such as ``train_sample_count``) are forwarded, and its plain attributes
    (such as ``vote_criterion`` or ``training_count``) read and set in the worker. ``begin`` starts a
    call without waiting, for :func:`call_each`.
    """

    def __init__(self, pool: LearnerPool, index: int, facts: LearnerFacts) -> None:
        self._pool, self._index, self._facts = pool, index, facts

    def begin(self, method: str, *args: Any) -> Pending:
        """Start ``method(*args)`` in the worker; ``result()`` waits for what it returns."""
        pending = self._pool.submit(self._index, method, args)
        if method == "mli_test_weights":
            return _Verdict(pending, args[0])
        return pending

    def _call(self, method: str, *args: Any) -> Any:
        return self.begin(method, *args).result()

    def mli_propose_weights(self) -> Weights:
        result: Weights = self._call("mli_propose_weights")
        return result

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        result: ProposedWeights = self._call("mli_test_weights", weights)
        return result

    def mli_accept_weights(self, weights: Weights) -> None:
        self._call("mli_accept_weights", weights)

    def mli_get_current_weights(self) -> Weights:
        result: Weights = self._call("mli_get_current_weights")
        return result

    def mli_get_current_model(self) -> ColearnModel:
        result: ColearnModel = self._call("mli_get_current_model")
        return result

    def __getattr__(self, name: str) -> Any:
        facts: LearnerFacts = self.__dict__["_facts"]
        if name in facts.methods:
            return lambda *args: self._call(name, *args)
        if name in facts.values:  # read where it lives: it may have changed (a training counter)
            return self._call("__getattribute__", name)
        raise AttributeError(f"learner {self.__dict__['_index']} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:  # a learner's setting (``run --resume`` sets the training counter back): set where it lives
            self._call("__setattr__", name, value)

    def __repr__(self) -> str:
        return f"RemoteLearner({self._index}, {type(self._pool).__name__})"


@dataclass(frozen=True)
class _Verdict:
    """A remote test under way: its verdict, with the weights sent, as a ProposedWeights."""

    pending: Pending
    weights: Weights

    def result(self) -> ProposedWeights:
        vote_score, test_score, vote = self.pending.result()
        return ProposedWeights(weights=self.weights, vote_score=vote_score, test_score=test_score, vote=vote)


def call_each(
    learners: Sequence[MachineLearningInterface], method: str, calls: Mapping[int, tuple[Any, ...]]
) -> dict[int, Any]:
    """``learners[i].method(*calls[i])`` for every ``i``: remote ones all at once, local ones in turn.

    Results come back by learner index; an error is raised for the lowest index that failed, as
    calling them in turn would have raised it.
    """
    started: dict[int, Pending] = {}
    for index, args in calls.items():
        learner = learners[index]
        if isinstance(learner, RemoteLearner):
            started[index] = learner.begin(method, *args)
    results: dict[int, Any] = {}
    for index, args in calls.items():
        if index in started:
            results[index] = started[index].result()
        else:
            call: Callable[..., Any] = getattr(learners[index], method)
            results[index] = call(*args)
    return results
