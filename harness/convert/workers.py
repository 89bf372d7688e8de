"""Where levels are built: in this process, or in worker processes on the other cores.

TensorFlow trains and converts these small models mostly on one core, so on a host with two or
more cores independent levels finish sooner side by side. Each worker is a spawned process
(TensorFlow is not fork-safe) that imports TensorFlow as soon as it starts, while this process
goes on (hashing, cache lookups, building the zoo model in the first worker). A worker loads the
model once and keeps it for every level it builds; the SavedModel export that quantization-only
levels convert from is made once per run and shared (sources.LoadedModel.saved_model_dir).
Workers report their steps through a queue that a thread here hands to the progress Tracker.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from harness.convert import document
from harness.convert.build import BuildRequest
from harness.convert.progress import Tracker
from harness.errors import InputError, SqueezebenchError

MAX_AUTO_JOBS = 4  # a worker converting an ImageNet-size model holds about 1.6 GB
ZOO_TASK_PREFIX = "zoo model "


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def auto_jobs(levels_to_build: int) -> int:
    """Worker processes worth starting for this many levels: one per core (up to MAX_AUTO_JOBS),
    none when there is one level or TensorFlow is already loaded here (a test session, a notebook:
    starting workers would import it again, which costs more than small levels gain)."""
    if levels_to_build < 2 or "tensorflow" in sys.modules:
        return 1
    return max(1, min(available_cores(), MAX_AUTO_JOBS, levels_to_build))


class Builders:
    """Builds the zoo model and levels, in this process (jobs 1) or in a pool of workers started
    on first use and stopped on exit."""

    def __init__(self, jobs: int | None, tracker: Tracker):
        self.jobs = jobs  # None: decided by auto_jobs once the number of levels is known
        self.tracker = tracker
        self._pool: ProcessPoolExecutor | None = None
        self._pool_size = 0
        self._events = None
        self._drain: threading.Thread | None = None

    def __enter__(self) -> Builders:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._drain is not None:
            self._events.put(None)
            self._drain.join()
        from harness.convert.build import forget_models

        forget_models()

    # -- the zoo model ------------------------------------------------------------------------

    def build_zoo(self, name: str):
        """The zoo artifact; built in a worker when workers will be wanted anyway (a missing zoo
        model means every level of it is missing from the cache too)."""
        from harness.convert import zoo

        if zoo.is_built(name):
            return zoo.ensure_artifact(name)
        zoo.check_fetched(name)
        key = ZOO_TASK_PREFIX + name
        self.tracker.message(f"building {key} (once; cached in {zoo.artifact_dir(name).parent})")
        if self._workers_for(levels_to_build=2) > 1:
            self.tracker.step(key, "starting worker processes (they import TensorFlow)")
            artifact = self._start_pool().submit(_build_zoo_in_worker, name).result()
        else:
            artifact = zoo.ensure_artifact(name, self.tracker.reporter(key))
        self.tracker.finished(key)
        return artifact

    # -- levels -------------------------------------------------------------------------------

    def results(self, requests: list[BuildRequest]) -> Iterator[tuple[BuildRequest, dict]]:
        """Each request's result as it is ready (in this process: in the order given)."""
        if not requests:
            return
        if self._pool is None and self._workers_for(len(requests)) <= 1:
            yield from self._in_process(requests)
        else:
            pool = self._start_pool(len(requests))
            self.tracker.message(f"converting {len(requests)} levels in {self._pool_size} processes")
            yield from self._in_workers(pool, requests)

    def _in_process(self, requests: list[BuildRequest]) -> Iterator[tuple[BuildRequest, dict]]:
        from harness.convert.build import build_level

        for request in requests:
            yield request, build_level(request, self.tracker.reporter(request.level))

    def _in_workers(self, pool, requests: list[BuildRequest]) -> Iterator[tuple[BuildRequest, dict]]:
        for request in requests[: self._pool_size]:  # the first ones start at once (heartbeats meanwhile)
            self.tracker.step(request.level, "waiting for a worker process")
        futures = {pool.submit(_build_in_worker, request): request for request in requests}
        remaining = set(futures)
        try:
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    request = futures[future]
                    try:
                        result = future.result()
                    except Exception as e:  # the worker died (crash, out of memory): this level failed
                        result = {"status": document.STATUS_FAILED, "reason": f"worker process failed: {e!r}"}
                    if result["status"] == "input_error":
                        raise InputError(result["problem"], result["fix"])
                    yield request, result
        finally:
            for future in remaining:
                future.cancel()

    # -- the pool -----------------------------------------------------------------------------

    def _workers_for(self, levels_to_build: int) -> int:
        return self.jobs if self.jobs is not None else auto_jobs(levels_to_build)

    def _start_pool(self, levels_to_build: int = 2) -> ProcessPoolExecutor:
        if self._pool is None:
            count = self._pool_size = max(1, min(self._workers_for(levels_to_build), levels_to_build))
            context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
            self._events = context.Queue()
            self._pool = ProcessPoolExecutor(
                max_workers=count, mp_context=context, initializer=_start_worker, initargs=(self._events,)
            )
            # Workers start on demand, one per submitted task: start them all now so that they
            # import TensorFlow side by side while this process goes on.
            with _empty_main_module():
                for _ in range(count):
                    self._pool.submit(os.getpid)
            self._drain = threading.Thread(target=self._forward_events, name="convert-workers", daemon=True)
            self._drain.start()
        return self._pool

    def _forward_events(self) -> None:
        while (event := self._events.get()) is not None:
            self.tracker.step(*event)


@contextmanager
def _empty_main_module() -> Iterator[None]:
    """A spawned process first imports its parent's __main__. The workers need nothing from it
    (their tasks live in this module), and a user's script calling convert_model without an
    `if __name__ == "__main__":` guard would run again in each of them; so they get an empty one."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


# -- inside a worker process ------------------------------------------------------------------

_events = None


def _start_worker(events) -> None:
    global _events
    _events = events
    from harness.convert import tfenv

    tfenv.tensorflow()


def _reporter(level: str):
    def report(step: str, count: str = "", fraction: float | None = None) -> None:
        _events.put((level, step, count, fraction))

    return report


def _build_in_worker(request: BuildRequest) -> dict:
    """Bad-input errors come back as data: an exception crossing processes loses its fix."""
    from harness.convert.build import build_level

    try:
        return build_level(request, _reporter(request.level))
    except SqueezebenchError as e:
        return {"status": "input_error", "problem": e.problem, "fix": e.fix}


def _build_zoo_in_worker(name: str):
    from harness.convert import zoo

    return zoo.ensure_artifact(name, _reporter(ZOO_TASK_PREFIX + name))
