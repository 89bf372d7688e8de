"""JSON documents on disk: written atomically (readers see the old file or the new one, never
half of one) and read strictly (no NaN, a one-line error for a missing or corrupt file). Their
kinds, versions and migrations are in harness/schemas.py."""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ResultsError

def _umask() -> int:
    # The umask can only be read by setting it: done once, at import, before any writer thread.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# What open() would give a new file. mkstemp makes it 0600, which would leave results and
# reports that are meant to be shared (published, served) readable by their owner only.
NEW_FILE_MODE = 0o666 & ~_umask()


def utc_now() -> str:
    """The timestamp every document records (`created_utc`, ...): UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_json_atomic(path: Path, document: Any) -> None:
    """Write `document` so that readers see the old file or the new one, never half of one."""
    text = json.dumps(_finite(document), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    write_bytes_atomic(Path(path), text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, NEW_FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk too.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON; store them as null rather than emit invalid files."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def read_json(path: Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file", "check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: cannot be read: {e}") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as e:
        raise ResultsError(f"{path}: not valid JSON ({e})", "the file is corrupt or truncated") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")
