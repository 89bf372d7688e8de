"""Which run a virtual device belongs to, so that a device nobody will stop does not run forever.

A virtual device that `squeezebench run` starts for itself belongs to that run: `owner.json` in
the device's state directory names the owning process (pid and start time, since pids get reused)
and its run. The daemon checks the owner every few seconds; once the owner has been gone for the
grace period it stops itself. The grace is there for `run --resume`, which adopts the device
(rewrites the owner to itself) when it is still healthy, rather than starting another.
A device started by hand (`virtual start`) has no owner and runs until it is stopped.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import SqueezebenchError
from harness.jsonfile import write_json_atomic
from harness.schemas import VIRTUAL_OWNER

OWNER_NAME = "owner.json"
ORPHAN_GRACE_S = 60.0
# Field 22 of /proc/PID/stat (1-based), counted after the ")" that ends the command name.
_START_TIME_FIELD = 19


@dataclass(frozen=True)
class Owner:
    pid: int
    start_ticks: int
    run_id: str
    run_dir: str
    grace_s: float = ORPHAN_GRACE_S

    @classmethod
    def this_process(cls, run_id: str, run_dir: Path | str, grace_s: float = ORPHAN_GRACE_S) -> Owner:
        pid = os.getpid()
        return cls(pid, process_start_ticks(pid) or 0, run_id, str(run_dir), grace_s)

    def is_alive(self) -> bool:
        return process_start_ticks(self.pid) == self.start_ticks


def process_start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        return int(stat.rsplit(b")", 1)[1].split()[_START_TIME_FIELD])
    except (OSError, IndexError, ValueError):
        return None


def write_owner(state_dir: Path, owner: Owner | None) -> None:
    """Make `owner` the device's owner; None makes it nobody's (started by hand)."""
    path = Path(state_dir) / OWNER_NAME
    if owner is None:
        path.unlink(missing_ok=True)
    else:
        write_json_atomic(path, {**VIRTUAL_OWNER.stamp(), **asdict(owner)})


def read_owner(state_dir: Path) -> Owner | None:
    try:
        data = VIRTUAL_OWNER.load(Path(state_dir) / OWNER_NAME)
        return Owner(int(data["pid"]), int(data["start_ticks"]), str(data["run_id"]), str(data["run_dir"]),
                     float(data.get("grace_s", ORPHAN_GRACE_S)))
    except (OSError, ValueError, KeyError, TypeError, SqueezebenchError):
        return None


class OrphanWatch:
    """Says when the device has been without a living owner for the owner's grace period."""

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self._orphaned_since: float | None = None

    def should_stop(self, now_s: float) -> Owner | None:
        """The gone owner once its grace is over; None while owned, unowned, or within the grace."""
        owner = read_owner(self.state_dir)
        if owner is None or owner.is_alive():
            self._orphaned_since = None
            return None
        if self._orphaned_since is None:
            self._orphaned_since = now_s
        return owner if now_s - self._orphaned_since >= owner.grace_s else None
