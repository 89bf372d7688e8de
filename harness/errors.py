"""One exception hierarchy and one set of exit codes for the whole tool.

Every error a user can cause or fix derives from `SqueezebenchError`. The CLI prints such errors
as one line, `squeezebench: error: <problem> (<fix>)`, and exits with the error's `exit_code`;
anything else is a bug in squeezebench and keeps its traceback.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, shown in `squeezebench --help`."""

    OK = 0
    PARTIAL = 1  # the command ran, but some levels / cells failed or were skipped; see the results
    REGRESSION = 2  # `compare --fail-on`: a threshold was exceeded
    NOTHING_RAN = 3  # every level / cell failed, or there was nothing to do
    USAGE = 4  # bad command line: unknown option or value, conflicting options
    BAD_INPUT = 5  # a model, data file, device profile or results directory is missing or invalid
    DEVICE = 6  # no usable device: unknown serial, unauthorized, offline, adb server unreachable
    ENVIRONMENT = 7  # something on the host is missing: bubblewrap, a runner binary, a package
    INCONCLUSIVE = 8  # `compare --fail-on`: a threshold is below a cell's noise floor, no regression seen
    INTERRUPTED = 130  # Ctrl-C; everything measured so far is saved


EXIT_CODE_HELP = "\n".join(
    f"  {code.value:>3}  {code.name.lower().replace('_', ' ')}: {desc}"
    for code, desc in [
        (ExitCode.OK, "everything asked for was done"),
        (ExitCode.PARTIAL, "some levels or cells failed or were skipped (reasons are in the results)"),
        (ExitCode.REGRESSION, "compare: a --fail-on threshold was exceeded"),
        (ExitCode.NOTHING_RAN, "every level or cell failed, or there was nothing to do"),
        (ExitCode.USAGE, "bad command line (unknown or conflicting options)"),
        (ExitCode.BAD_INPUT, "missing or invalid model, data, device profile or results"),
        (ExitCode.DEVICE, "no usable device (unknown, unauthorized, offline, adb unreachable)"),
        (ExitCode.ENVIRONMENT, "a host prerequisite is missing (bubblewrap, runner binary, ...)"),
        (ExitCode.INCONCLUSIVE, "compare: a --fail-on threshold is below a cell's noise floor (no regression seen)"),
        (ExitCode.INTERRUPTED, "interrupted; results measured so far are saved"),
    ]
)


class SqueezebenchError(Exception):
    """An error the user can act on: `problem` says what is wrong, `fix` what to do about it."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, problem: str, fix: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __reduce__(self):
        # Errors cross process boundaries (parallel conversions): keep the fix and the context.
        return (_rebuild_error, (type(self), self.__dict__))

    def one_line(self) -> str:
        text = self.problem if not self.fix else f"{self.problem} ({self.fix})"
        # A message is one line even when it quotes a multi-line converter or device message.
        return " ".join(text.split())


class UsageError(SqueezebenchError):
    exit_code = ExitCode.USAGE


class InputError(SqueezebenchError):
    """A model, data file, device profile or results directory that cannot be used."""

    exit_code = ExitCode.BAD_INPUT


class HostEnvironmentError(SqueezebenchError):
    """A prerequisite on the host is missing (a Debian package, a runner binary, ...)."""

    exit_code = ExitCode.ENVIRONMENT


class DeviceError(SqueezebenchError):
    """A device or adb server problem; carries what was run and what came back."""

    exit_code = ExitCode.DEVICE

    def __init__(
        self,
        problem: str,
        fix: str | None = None,
        *,
        serial: str | None = None,
        cmd: str | None = None,
        returncode: int | None = None,
        stderr: str | None = None,
    ):
        if serial and serial not in problem:
            problem = f"{serial}: {problem}"
        super().__init__(problem, fix)
        self.serial = serial
        self.cmd = cmd
        self.returncode = returncode
        self.stderr = stderr


class DeviceGoneError(DeviceError):
    """The device disconnected or stopped answering while it was being used."""


class ResultsError(InputError):
    """A results file or directory that cannot be read (not one, corrupt, or from a newer version)."""


def _rebuild_error(cls, state: dict) -> SqueezebenchError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("problem"))
    error.__dict__.update(state)
    return error
