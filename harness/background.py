"""Two device round trips at once: the host mostly waits on sockets there, so a thread is enough
(the device runs both; a phone's `settings`, `svc` and `input` are Java programs of 0.1-0.3 s)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def alongside(work: Callable[[], object] | None) -> Iterator[None]:
    """Run `work` in a thread while the block runs, and wait for it at the block's end. Its error
    is raised then, unless the block raised one of its own."""
    if work is None:
        yield
        return
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as e:  # handed to the waiting thread, which raises it
            errors.append(e)

    thread = threading.Thread(target=run, name="alongside", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if errors:
        raise errors[0]
