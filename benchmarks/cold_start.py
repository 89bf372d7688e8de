"""Cold start: wall time of `squeezebench --help` and `squeezebench devices`, and what they import,
printed as JSON.

    .venv/bin/python benchmarks/cold_start.py [--repeats 15]

Each command runs in a fresh process, as typed (the venv's `squeezebench` console script, which
imports this checkout's harness through PYTHONPATH), in rotating order every round:
  python_floor        `python -c pass`: the interpreter alone, the floor of any command
  help                `squeezebench --help`
  devices_one         `squeezebench devices` with the private adb server up and one virtual device
  devices_none        `squeezebench devices --adb-server` of a second private server with nothing
                      attached (discovery without passports)
Once, not timed in rounds: `squeezebench devices` with no adb server running, which starts one
(the server's own start dominates; it happens once per boot in real use).
Imports: the modules `--help` and `devices` load (`-X importtime`), the heavy ones named, and the
largest cumulative import times.
Target: `--help` under 0.5 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _support as support

TARGET_HELP_S = 0.5
HEAVY = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "ai_edge_litert", "adbutils", "pandas",
         "matplotlib", "numpy", "requests")


def squeezebench_argv() -> list[str]:
    """The console script users type; under the world's PYTHONPATH it runs this checkout's harness."""
    script = Path(sys.executable).parent / "squeezebench"
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness"]


def imports_of(command: list[str], world) -> dict:
    """Modules loaded and the largest cumulative import times, from -X importtime."""
    python_argv = command if command[0] == sys.executable else [sys.executable, *command]
    run = support.timed_process([python_argv[0], "-X", "importtime", *python_argv[1:]], world.env)
    rows = []
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line[len("import time:"):].split("|")
            rows.append((int(cumulative), name[1:].rstrip()))  # nested imports keep their indent
    top = sorted((r for r in rows if not r[1].startswith(" ")), reverse=True)[:8]
    names = {name.strip() for _, name in rows}
    return {
        "modules": len(names),
        "heavy_imported": [h for h in HEAVY if h in names],
        "top_cumulative_ms": {name: round(us / 1000, 1) for us, name in top},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    started = time.perf_counter()
    command = squeezebench_argv()
    with support.private_world("cold-start", start_adb=False) as world:
        from harness.device import adb

        server_start = world.squeezebench("devices")  # no server yet: this one starts it
        [device] = world.start_devices(1)
        empty_server = adb.AdbServerAddress("127.0.0.1", support.free_port())
        adb.start_local_server(empty_server.port)
        try:
            def timed(*extra):
                return lambda: support.timed_process([*command, *extra], world.env).wall_s

            seconds = support.alternate({
                "python_floor": lambda: support.timed_process([sys.executable, "-c", "pass"], world.env).wall_s,
                "help": timed("--help"),
                "devices_one": timed("devices"),
                "devices_none": timed("devices", "--adb-server", str(empty_server)),
            }, args.repeats)
            imports = {"help": imports_of([*command, "--help"], world), "devices": imports_of([*command, "devices"], world)}
        finally:
            adb.kill_server(empty_server)
        listed = world.squeezebench("devices", "--json").json()
    help_s = support.spread(seconds["help"], 4)
    support.print_result({
        "benchmark": "cold_start",
        "command": command,
        "seconds": {name: support.spread(values, 4) for name, values in seconds.items()},
        "devices_listed": [d["serial"] for d in listed],
        "devices_starting_the_adb_server_s": round(server_start.wall_s, 3),
        "imports": imports,
        "target_help_s": TARGET_HELP_S,
        "help_met": help_s["median"] < TARGET_HELP_S,
        "help_over_python_floor": support.ratio(help_s["median"], support.spread(seconds["python_floor"])["median"]),
        "host": support.host_facts(),
        "script_wall_s": round(time.perf_counter() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
