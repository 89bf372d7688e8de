"""The `squeezebench` command: one module per verb in this package.

Each verb module exposes `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Verb modules import nothing heavy at module level, so `squeezebench --help` stays instant;
TensorFlow, adbutils, pandas and matplotlib are imported inside `run`.
"""

from __future__ import annotations

import argparse
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


def build_parser() -> ArgumentParser:
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
        parser = build_parser()
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


if __name__ == "__main__":
    sys.exit(main())
