"""Running the CLI, and what every user mistake must produce: exactly one stderr line,
"squeezebench: error: ...", naming the problem and the fix, with the documented exit code.

Two ways, one for each kind of test, both answering a `subprocess.CompletedProcess` (`returncode`,
`stdout`, `stderr`):
- `run_cli`: the real console script in its own process, as users run it (end-to-end tests);
  `start_cli` is the same without waiting, for tests that kill or race it;
- `run_cli_in_process`: the CLI's entry point in this process, for fast tests of one command's
  answers (no interpreter start, imports shared with the test session).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
SQUEEZEBENCH = VENV_BIN / "squeezebench"


def one_line_error(code: int, stderr: str, exit_code: int, *fragments: str) -> str:
    """The error line, after checking the exit code, that it is the only line, and that it holds
    every fragment."""
    assert code == exit_code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("squeezebench: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def run_cli(*args, timeout_s: float = 600, check: bool = False, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`squeezebench ARGS...` in a process of its own, waited for."""
    done = subprocess.run(
        [str(SQUEEZEBENCH), *map(str, args)], capture_output=True, text=True, timeout=timeout_s, cwd=cwd, env=env,
    )  # fmt: skip
    return _checked(done) if check else done


def start_cli(*args, **popen_options) -> subprocess.Popen:
    """`squeezebench ARGS...` started in its own process group (so that a test can SIGKILL all of
    it), stdout and stderr piped as text."""
    options = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    return subprocess.Popen([str(SQUEEZEBENCH), *map(str, args)], **{**options, **popen_options})


def run_cli_in_process(*args, check: bool = False) -> subprocess.CompletedProcess:
    """`squeezebench ARGS...` through `harness.cli.main` in this process: its exit code and what it
    printed. A traceback is not caught: it fails the test as it would fail a user."""
    from harness.cli import main

    argv = [str(arg) for arg in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    done = subprocess.CompletedProcess(["squeezebench", *argv], code, out.getvalue(), err.getvalue())
    return _checked(done) if check else done


def _checked(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(done.args)} exited {done.returncode}:\n{done.stderr}")
    return done
