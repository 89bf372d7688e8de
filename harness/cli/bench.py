"""squeezebench bench: one model on one device, measured properly."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from harness.cli.common import (
    add_adb_server_option,
    add_measurement_options,
    add_output_options,
    positive_int,
    print_json,
    say,
    the_one_device,
)
from harness.errors import ExitCode, InputError, UsageError

HELP = "benchmark one .tflite on one device (latency, memory, energy, thermal, delegation)"
DESCRIPTION = (
    "Push the model, the on-device agent and the runner (each only if the device does not already "
    "hold the same content), run LiteRT's benchmark_model under the agent, pull the raw output and "
    "report latency with confidence intervals, peak memory, energy per inference with its method, "
    "thermal state before and after, delegation coverage and the device passport."
)


def add_arguments(parser):
    parser.add_argument("model", help="a .tflite file")
    parser.add_argument("--device", "-s", metavar="SERIAL", help="device serial (default: the only connected device)")
    add_adb_server_option(parser)
    parser.add_argument("--threads", type=positive_int, help="runner threads (default: the device profile's, else up to 4)")
    parser.add_argument("--delegate", default="cpu", choices=["cpu", "xnnpack-off", "gpu", "nnapi"], help="default cpu (XNNPACK)")
    parser.add_argument("--inputs", type=Path, metavar="FILE.npz",
                        help="real inputs to check the outputs with on the device (turns --check-outputs on): x_eval "
                        "for a one-input model, else one array per input name; y_eval labels give accuracy")
    add_measurement_options(parser)
    parser.add_argument("--out", type=Path, help="where to keep bench.json and the raw output (default results/bench-<time>-<model>)")
    add_output_options(parser)


def run(args) -> int:
    from harness.background import alongside
    from harness.bench.agent import reaping_script
    from harness.bench.session import open_session
    from harness.bench.settings import Measurement
    from harness.convert.inspect import verify_tflite_file
    from harness.device.lock import device_lock

    model = Path(args.model)
    if not model.is_file():
        raise InputError(f"{model}: no such file", "pass a .tflite file (squeezebench convert makes them)")
    check_data = _check_data(args)
    measurement = Measurement.from_options(args)
    sha256 = verify_tflite_file(model)
    server, serial = the_one_device(args.adb_server, args.device)
    with device_lock(str(server), serial, purpose=f"squeezebench bench {model.name}"):
        with alongside(_import_measuring_code):
            session = open_session(server, serial, prepare=reaping_script())
        from harness.bench.benchmark import run_benchmark
        from harness.paths import results_dir
        from harness.report.bench_text import describe_bench
        from harness.store.cell_files import BENCH_FILE
        from harness.store.run import safe_component

        out_dir = args.out or results_dir() / f"bench-{time.strftime('%Y%m%dT%H%M%S')}-{safe_component(model.stem, 40)}"
        try:
            settings = session.settings_for(
                measurement, threads=args.threads or session.default_threads, delegate=args.delegate
            )
            result = run_benchmark(session, model, settings, out_dir, model_info={"sha256": sha256},
                                   check_data=check_data)
        finally:
            session.restore_held()  # run_benchmark put it back already, unless it never ran
    if args.json:
        print_json(result.to_dict())
    else:
        say(args, describe_bench(result))
        say(args, f"\nresults: {out_dir / BENCH_FILE}")
    return ExitCode.OK if result.ok else ExitCode.NOTHING_RAN



def _import_measuring_code() -> None:
    """What runs, reads and reports the benchmark, imported while the device answers the passport
    and is prepared: the host has nothing else to do then (40-90 ms of imports)."""
    for module in ("harness.bench.benchmark", "harness.report.bench_text", "harness.store.run"):
        importlib.import_module(module)


def _check_data(args):
    """The inputs outputs are checked with: only what --inputs gives (a lone .tflite has no
    evaluation data of its own)."""
    if args.inputs is None:
        if args.check_outputs:
            raise UsageError("--check-outputs needs real inputs for a single .tflite",
                             "give --inputs FILE.npz (x_eval; y_eval labels for accuracy)")
        return None
    if args.check_outputs is False:
        return None
    from harness.bench.output_pass import load_check_inputs  # numpy and the output checks: only with --inputs

    return load_check_inputs(args.inputs)
