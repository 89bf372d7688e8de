"""The `squeezebench` command: one module per verb in this package.

Each verb module exposes `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Verb modules import nothing heavy at module level, so `squeezebench --help` stays instant;
TensorFlow, adbutils, pandas and matplotlib are imported inside `run`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from harness import __version__
from harness.errors import EXIT_CODE_HELP, ExitCode, SqueezebenchError, UsageError

# (command name, module under harness.cli); order is the order shown in --help.
VERBS = [
    ("convert", "convert"),
    ("bench", "bench"),
    ("run", "run"),
    ("devices", "devices"),
    ("virtual", "virtual"),
    ("capture", "capture"),
    ("runner", "runner"),
    ("parse-log", "parse_log"),
    ("report", "report"),
    ("compare", "compare"),
    ("publish", "publish"),
    ("zoo", "zoo"),
]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors exit with ExitCode.USAGE in one line, like every other error."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", f"see '{self.prog} --help'")


def build_parser(verb: str | None = None) -> ArgumentParser:
    """The whole command line, or only `verb`'s part of it: a command builds its own options alone
    (the others' import 25-30 ms of modules; `squeezebench --help` still lists every verb)."""
    parser = ArgumentParser(
        prog="squeezebench",
        description="Compress a model to TFLite at every level, benchmark each level on Android "
        "devices (or a virtual device), and report size, accuracy, latency, memory and energy.",
        epilog="exit codes:\n" + EXIT_CODE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"squeezebench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name, module_name in VERBS:
        if verb and name != verb:
            continue
        module = importlib.import_module(f"harness.cli.{module_name}")
        sub = subparsers.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            epilog="exit codes:\n" + EXIT_CODE_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else argv
        parser = build_parser(argv[0] if argv and argv[0] in dict(VERBS) else None)
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return ExitCode.USAGE
        return int(args.handler(args))
    except SqueezebenchError as e:
        print(f"squeezebench: error: {e.one_line()}", file=sys.stderr)
        return int(e.exit_code)
    except KeyboardInterrupt:
        print("squeezebench: interrupted; results measured so far are saved", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # `squeezebench report ... | head` closing the pipe early is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)


def command() -> None:
    """The `squeezebench` program (console script and `python -m harness`): main(), then an exit
    without the interpreter's last garbage collections over the 200-300 modules a command has
    loaded (20-30 ms of every command; the OS takes the memory back anyway). Results are written
    and closed by then, and atexit handlers and the flush of stdout and stderr still run."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    command()
