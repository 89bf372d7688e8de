"""Two device round trips at once: the host mostly waits on sockets there, so a thread is enough
(the device runs both; a phone's `settings`, `svc` and `input` are Java programs of 0.1-0.3 s)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Started:
    """`work` running in a thread from now on; finish() waits for it and gives its result, or
    raises its error."""

    def __init__(self, work: Callable[[], object]):
        self._result: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name="alongside", daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], object]) -> None:
        try:
            self._result = work()
        except BaseException as e:  # handed to the thread that finishes it, which raises it
            self._error = e

    def wait(self) -> None:
        self._thread.join()

    def finish(self) -> object:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._result


@contextmanager
def alongside(work: Callable[[], object] | None) -> Iterator[None]:
    """Run `work` in a thread while the block runs, and wait for it at the block's end. Its error
    is raised then, unless the block raised one of its own."""
    if work is None:
        yield
        return
    started = Started(work)
    try:
        yield
    except BaseException:
        started.wait()
        raise
    started.finish()
