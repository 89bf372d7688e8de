#!/system/bin/python3
"""squeezebench's bundled `benchmark_model`: LiteRT's benchmark tool, for devices with Python.

One self-contained file (standard library, numpy and ai_edge_litert only), pushed as-is to
devices that have Python and LiteRT (the virtual device runs it as
`/system/bin/python3 /data/local/tmp/squeezebench/runner/benchmark_model.py`) and run on the host as
`python harness/bundled_runner/benchmark_model.py --graph=model.tflite ...`.

It follows LiteRT's tflite/tools/benchmark (benchmark_main.cc, benchmark_model.cc,
benchmark_tflite_model.cc, tools/command_line_flags.cc, xla/tsl/util/stats_calculator.h):

- flags are `--name=value` (bools: true/false/1/0); a value that does not parse is an error;
  flags it does not know (or does not implement) are reported as
  `WARN: Unconsumed cmdline flags: ...` and the run goes on, as the real tool does;
- parameters given on the command line are echoed (`Num threads: [4]`), all of them with
  `--verbose=true`;
- init (model load, interpreter, delegates, tensor allocation) is timed, then a warm-up phase
  (`--warmup_runs`, `--warmup_min_secs`) and the measured phase (`--num_runs`, `--min_secs`):
  each runs while fewer than the minimum runs were done OR the minimum time has not passed, and
  stops starting new runs after `--max_secs`; `--run_delay` seconds are slept between runs;
  inputs are copied into the input tensors before every run, outside the timed region;
- inputs are random like the real tool's: float in [-0.5, 0.5], int32/int64 in [0, 99], uint8
  in [0, 254], int8 in [-127, 127], bool 0/1 (`--input_layer_value_range` as in the real tool),
  drawn once: every run gets the same inputs;
- `--input_layer_value_files=name:path,...` (with `--input_layer`/`--input_layer_shape`, `::`
  for a colon in a name or path): each file holds the raw bytes of one input tensor, exactly the
  tensor's size after resizing, or the tool's FATAL; every run uses the same values. Several
  samples go through one process by resizing the batch dimension (see harness/bench/outputs.py);
- `--output_filepath=PATH`: after the last run, the raw bytes of every output tensor in the
  interpreter's output order (the tool's OutputSaver; a file that cannot be opened is skipped);
- output lines, prefixes (INFO/WARN on stdout, ERROR/FATAL on stderr), stats lines (population
  std, nth-element percentiles, 6-significant-digit floats, `(all same)`), summary and memory
  lines (getrusage max-RSS deltas; `--report_peak_memory_footprint` samples VmRSS every
  `--memory_footprint_check_interval_ms` in a thread, only when asked) are the real ones;
- XNNPACK is applied by default; `--use_xnnpack=false` turns it off, `--use_xnnpack=true`
  applies it "explicitly" and reports full / partial delegation like the real tool;
- a delegate it cannot provide (`--use_gpu=true`, `--use_nnapi=true`) fails the way the real
  tool fails to apply a delegate (`Failed to apply GPU delegate.`, `Benchmarking failed.`, exit
  1), never a silent CPU run; `--require_full_delegation=true` behaves as in the real tool;
- `--enable_op_profiling=true`: real per-operator times from LiteRT's own profiler. LiteRT's
  Python API has none, but the ai_edge_litert wheel ships LiteRT's C library (libLiteRt.so) with
  its profiler API, which this runner calls through ctypes: after the timed runs (which have no
  profiler attached, so their latency is not perturbed) it compiles the graph once more as a
  LiteRT CompiledModel (CPU: XNNPACK, or the builtin kernels with `--use_xnnpack=false`, same
  threads and inputs), runs it once (LiteRT allocates its tensors then: that run's
  `AllocateTensors` is the initialization profile) and then as many runs as were measured, and
  prints the tool's tables (profile_summarizer.cc with xla/tsl's StatsCalculator: Run Order, Top
  by Computation Time, Summary by node type, `Timings (microseconds)`), XNNPACK's own operators
  as `Delegate/<op>:<index>` rows as in current releases. `[mem KB]` is 0 (LiteRT's C API gives
  no footprint per event); LiteRT's `LiteRT::Run[...]` buffer events are left out (the timed
  interpreter runs have no such step). Without LiteRT's C library or profiler, or with
  inputs resized by `--input_layer_shape`, it prints `WARN: op profiling is not available in the
  squeezebench-litert-runner: <why>` and no table (never numbers that were not measured);
- `--print_preinvoke_state` and `--print_postinvoke_state` are accepted and echoed. Signatures
  other than the primary subgraph's are refused.

It prints one extra line after `STARTING!`, `INFO: squeezebench-litert-runner <version>
(LiteRT <version>)`, which parsers of the real format ignore and squeezebench's records.

squeezebench extensions (not flags of the real tool):

- `--squeezebench_latencies_file=PATH`: after the measured runs, write every per-iteration
  latency in µs (3 decimals), one per line: a `#` comment line, then `warmup <µs>` lines for the
  warm-up runs, then one plain number per measured run.
- `--squeezebench_slowdown=F` (TEST SWITCH, F >= 1): every run takes F times as long (the extra
  time is spent waiting inside the timed region), for testing regression gates.
- `--squeezebench_output_noise=F` (TEST SWITCH, F >= 0): `--output_filepath` gets outputs moved
  by up to F times each tensor's largest magnitude (seeded), for testing output checks.
- `--squeezebench_fault=MODE` (TEST SWITCH, for reliability tests), acting when the measured
  phase starts: `segfault` (a real SIGSEGV), `abort` (SIGABRT), `exit:N` (exit status N),
  `truncate` (print half of the measured stats line, no newline, exit 0), `hang` (never return).

Exit status: 0 on success, 1 when benchmarking failed (as the real tool's EXIT_FAILURE).
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import functools
import math
import os
import resource
import sys
import threading
import time
from collections.abc import Callable

RUNNER_NAME = "squeezebench-litert-runner"
RUNNER_VERSION = "0.1.0"
EXIT_FAILURE = 1

_MEMORY_CHECK_INTERVAL_MS = 50
# When a slowed-down run has less than this left to wait, spin instead of sleeping: sleep
# overshoots by tens of µs, which would make small models slower than asked.
_SPIN_BELOW_NS = 2_000_000
_FAULT_MODES = ("segfault", "abort", "truncate", "hang")


class BenchmarkFailed(Exception):
    """The run cannot go on; the message is already logged."""


# --- logging, as tflite/tools/logging.h --------------------------------------------------


def log(severity: str, message: str) -> None:
    stream = sys.stderr if severity in ("ERROR", "FATAL") else sys.stdout
    stream.write(f"{severity}: {message}\n")
    stream.flush()


def fatal(message: str) -> None:
    """TFLITE_LOG(FATAL): the real tool aborts."""
    log("FATAL", message)
    sys.stdout.flush()
    os.abort()


def fmt(value: float) -> str:
    """A float the way a default std::ostream prints it (6 significant digits)."""
    return "%g" % value


# --- flags, as tools/command_line_flags.cc ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Flag:
    name: str
    kind: type
    default: object
    label: str | None  # how LogParams echoes it; None: never echoed
    always_logged: bool = False


FLAGS = (
    # BenchmarkModel::LogParams order
    Flag("num_runs", int, 50, "Min num runs"),
    Flag("min_secs", float, 1.0, "Min runs duration (seconds)"),
    Flag("max_secs", float, 150.0, "Max runs duration (seconds)"),
    Flag("run_delay", float, -1.0, "Inter-run delay (seconds)"),
    Flag("num_threads", int, -1, "Num threads"),
    Flag("warmup_runs", int, 1, "Min warmup runs"),
    Flag("warmup_min_secs", float, 0.5, "Min warmup runs duration (seconds)"),
    Flag("report_peak_memory_footprint", bool, False, "Report the peak memory footprint"),
    Flag("memory_footprint_check_interval_ms", int, _MEMORY_CHECK_INTERVAL_MS, "Memory footprint check interval (ms)"),
    Flag("verbose", bool, False, None),
    # BenchmarkTfLiteModel::LogParams order
    Flag("graph", str, "", "Graph", always_logged=True),
    Flag("signature_to_run_for", str, "", "Signature to run", always_logged=True),
    Flag("input_layer", str, "", "Input layers"),
    Flag("input_layer_shape", str, "", "Input shapes"),
    Flag("input_layer_value_range", str, "", "Input value ranges"),
    Flag("input_layer_value_files", str, "", "Input value files"),
    Flag("require_full_delegation", bool, False, "Require full delegation"),
    Flag("enable_op_profiling", bool, False, "Enable op profiling"),
    Flag("print_preinvoke_state", bool, False, "Print pre-invoke interpreter state"),
    Flag("print_postinvoke_state", bool, False, "Print post-invoke interpreter state"),
    Flag("output_filepath", str, "", "File path to export outputs layer to"),
    # delegate providers
    Flag("use_gpu", bool, False, "Use gpu"),
    Flag("gpu_precision_loss_allowed", bool, True, "Allow lower precision in gpu"),
    Flag("use_nnapi", bool, False, "Use NNAPI"),
    Flag("use_xnnpack", bool, False, "Use xnnpack"),
    # squeezebench extensions
    Flag("squeezebench_latencies_file", str, "", "squeezebench latencies file"),
    Flag("squeezebench_slowdown", float, 1.0, "squeezebench slowdown factor (TEST SWITCH)"),
    Flag("squeezebench_fault", str, "", "squeezebench fault (TEST SWITCH)"),
    Flag("squeezebench_output_noise", float, 0.0, "squeezebench output noise (TEST SWITCH)"),
)
FLAGS_BY_NAME = {flag.name: flag for flag in FLAGS}


def _parse_value(flag: Flag, text: str):
    if flag.kind is bool:
        if text not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text in ("true", "1")
    return flag.kind(text)


@dataclasses.dataclass
class Params:
    values: dict
    explicitly_set: set

    def __getitem__(self, name: str):
        return self.values[name]


def parse_flags(argv: list[str]) -> tuple[Params, list[str]]:
    """(params, unconsumed args). Each flag takes its first `--name=value`; later repeats and
    unknown arguments are left unconsumed, as in the real tool."""
    values = {flag.name: flag.default for flag in FLAGS}
    explicitly_set: set[str] = set()
    unconsumed: list[str] = []
    failed = False
    for arg in argv:
        name, sep, text = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        flag = FLAGS_BY_NAME.get(name) if sep else None
        if flag is None or name in explicitly_set:
            unconsumed.append(arg)
            continue
        try:
            values[name] = _parse_value(flag, text)
        except ValueError:
            log("ERROR", f"Failed to parse flag '{name}' against argv '{arg}'")
            failed = True
            continue
        explicitly_set.add(name)
    if failed or "--help" in unconsumed or "--help=true" in unconsumed:
        log("ERROR", usage())
        raise BenchmarkFailed()
    return Params(values, explicitly_set), unconsumed


def usage() -> str:
    lines = [f"usage: {os.path.basename(sys.argv[0])} <flags>", "Flags:"]
    for flag in FLAGS:
        default = str(flag.default).lower() if flag.kind is bool else str(flag.default)
        lines.append(f"\t--{flag.name}={default}\t{flag.kind.__name__}\toptional")
    return "\n".join(lines)


def log_params(params: Params) -> None:
    verbose = params["verbose"]
    log("INFO", f"Log parameter values verbosely: [{int(verbose)}]")
    for flag in FLAGS:
        if flag.label and (verbose or flag.always_logged or flag.name in params.explicitly_set):
            value = params[flag.name]
            shown = int(value) if flag.kind is bool else fmt(value) if flag.kind is float else value
            log("INFO", f"{flag.label}: [{shown}]")


def validate(params: Params) -> None:
    if not params["graph"]:
        log("ERROR", "Please specify the name of your TF Lite input file with --graph")
        raise BenchmarkFailed()
    if params["report_peak_memory_footprint"] and params["memory_footprint_check_interval_ms"] <= 0:
        log("WARN", f"--memory_footprint_check_interval_ms is set to "
                    f"{params['memory_footprint_check_interval_ms']} (ms), This value is invalid, and it "
                    f"will be set to the default value {_MEMORY_CHECK_INTERVAL_MS} (ms).")
        params.values["memory_footprint_check_interval_ms"] = _MEMORY_CHECK_INTERVAL_MS
    if params["squeezebench_output_noise"] < 0:
        log("ERROR", "--squeezebench_output_noise must be at least 0 (a fraction of each output's largest value)")
        raise BenchmarkFailed()
    if params["squeezebench_slowdown"] < 1:
        log("ERROR", "--squeezebench_slowdown must be at least 1 (a run cannot be made faster)")
        raise BenchmarkFailed()
    fault = params["squeezebench_fault"]
    if fault and fault not in _FAULT_MODES and not _exit_fault_status(fault):
        log("ERROR", f"--squeezebench_fault={fault}: use segfault, abort, exit:N, truncate or hang")
        raise BenchmarkFailed()


def _exit_fault_status(fault: str) -> int | None:
    if fault.startswith("exit:") and fault[5:].isdigit():
        return int(fault[5:])
    return None


# --- statistics, as xla/tsl/util/stats_calculator.h (Stat<int64_t>, StatWithPercentiles) --


def stat_line(values_us: list[int]) -> str:
    """What Stat<int64_t>::OutputToStream prints (the profiler's Timings line)."""
    count = len(values_us)
    if count == 0:
        return "count=0"
    if min(values_us) == max(values_us):
        return f"count={count} curr={values_us[-1]}" + ("(all same)" if count > 1 else "")
    return (f"count={count} first={values_us[0]} curr={values_us[-1]} min={min(values_us)} "
            f"max={max(values_us)} avg={fmt(average(values_us))} std={population_std(values_us)}")


def stats_line(values_us: list[int]) -> str:
    """What StatWithPercentiles<int64_t>::OutputToStream prints (the run statistics)."""
    return (f"{stat_line(values_us)} p5={percentile(values_us, 5)} median={percentile(values_us, 50)} "
            f"p95={percentile(values_us, 95)}")


def average(values_us: list[int]) -> float:
    # An empty Stat<int64_t> returns numeric_limits<int64_t>::quiet_NaN(), which is 0.
    return sum(values_us) / len(values_us) if values_us else 0.0


def population_std(values_us: list[int]) -> int:
    """Stat::std_deviation(): the variance and its root are both truncated to int64."""
    if not values_us or min(values_us) == max(values_us):
        return 0
    mean = average(values_us)
    variance = int(sum(float(v) * v for v in values_us) / len(values_us) - mean * mean)
    return int(math.sqrt(variance))


def percentile(values_us: list[int], p: int) -> int:
    """StatWithPercentiles::percentile: the nth_element at size * p / 100 (0 when empty)."""
    if not values_us:
        return 0
    ordered = sorted(values_us)
    return ordered[-1] if p == 100 else ordered[len(ordered) * p // 100]


# --- memory, as profiling/memory_info.cc and memory_usage_monitor.cc ----------------------


def max_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def current_rss_kb() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemoryMonitor:
    """Samples VmRSS in a thread, like the real tool's MemoryUsageMonitor, only when asked."""

    def __init__(self, interval_ms: int):
        self._interval_s = interval_ms / 1000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
        self.peak_kb = 0

    def _sample(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, current_rss_kb())
            if self._stop.wait(self._interval_s):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, current_rss_kb())
        return self.peak_kb / 1024.0


def log_memory_status() -> None:
    """The lines the real tool prints after the periodic peak (GetRssStats, /proc/self/statm)."""
    try:
        with open("/proc/self/statm") as statm:
            _, rss_pages, shared_pages = (int(v) for v in statm.read().split()[:3])
    except (OSError, ValueError):
        return
    page = os.sysconf("SC_PAGE_SIZE")
    rss_mb, shared_mb = rss_pages * page >> 20, shared_pages * page >> 20
    log("INFO", "Memory status at the end of exeution:")
    log("INFO", f"- VmRSS              : {rss_mb} MB")
    log("INFO", f"+ RssAnnon           : {rss_mb - shared_mb} MB")
    log("INFO", f"+ RssFile + RssShmem : {shared_mb} MB")


# --- inputs, as BenchmarkTfLiteModel::PopulateInputLayerInfo and tools/utils.cc -----------


@dataclasses.dataclass
class InputLayerInfo:
    name: str
    shape: list[int]
    value_range: tuple[int, int] | None = None
    value_file: str | None = None


def _split(text: str, sep: str) -> list[str]:
    return text.split(sep) if text else []


def input_layer_infos(params: Params) -> list[InputLayerInfo]:
    names = _split(params["input_layer"], ",")
    shapes = _split(params["input_layer_shape"], ":")
    if len(names) != len(shapes):
        log("ERROR", f"The number of items in --input_layer_shape ({params['input_layer_shape']}, with "
                     f"{len(shapes)} items) must match the number of items in --input_layer "
                     f"({params['input_layer']}, with {len(names)} items). For example "
                     f"--input_layer=input1,input2 --input_layer_shape=1,224,224,4:1,20")
        raise BenchmarkFailed()
    infos = []
    for name, shape_text in zip(names, shapes):
        try:
            shape = [int(dim) for dim in shape_text.split(",")]
        except ValueError:
            fatal(f"Incorrect size string specified: {shape_text}")
        if -1 in shape:
            log("ERROR", "Any unknown sizes in the shapes (-1's) must be replaced with the size you want "
                         "to benchmark with.")
            raise BenchmarkFailed()
        infos.append(InputLayerInfo(name, shape))
    _add_value_ranges(infos, params)
    _add_value_files(infos, params)
    return infos


def _find_info(infos: list[InputLayerInfo], name: str, params: Params) -> InputLayerInfo:
    for info in infos:
        if info.name == name:
            return info
    fatal(f"Cannot find the corresponding input_layer name({name}) in --input_layer as {params['input_layer']}")


def _add_value_ranges(infos: list[InputLayerInfo], params: Params) -> None:
    for item in _split(params["input_layer_value_range"], ":"):
        parts = item.split(",")
        if len(parts) != 3:
            log("ERROR", f"Wrong input value range item specified: {item}")
            raise BenchmarkFailed()
        info = _find_info(infos, parts[0], params)
        try:
            low, high = int(parts[1]), int(parts[2])
        except ValueError:
            low, high = 1, 0
        if low > high:
            log("ERROR", f"Wrong low and high value of the input value range specified: {item}")
            raise BenchmarkFailed()
        info.value_range = (low, high)


def _split_name_and_file(item: str) -> tuple[str, str]:
    """`name:path`, where `::` stands for a colon inside either part."""
    delimiters = []
    i = 0
    while i < len(item) - 1:
        if item[i] == ":":
            if item[i + 1] == ":":
                i += 1
            else:
                delimiters.append(i)
        i += 1
    if len(delimiters) != 1:
        problem = "doesn't contain any delimiter" if not delimiters else "contains more than one delimiter"
        log("ERROR", f"{item} {problem}.")
        log("ERROR", f"Wrong input value file item specified: {item}")
        raise BenchmarkFailed()
    at = delimiters[0]
    return item[:at].replace("::", ":"), item[at + 1:].replace("::", ":")


def _add_value_files(infos: list[InputLayerInfo], params: Params) -> None:
    for item in _split(params["input_layer_value_files"], ","):
        name, path = _split_name_and_file(item)
        info = _find_info(infos, name, params)
        if info.value_range is not None:
            log("WARN", f"The input_name:{info.name} appears both in input_layer_value_files and "
                        "input_layer_value_range. The input_layer_value_range of the input_name will be ignored.")
        info.value_file = path


def random_input(detail: dict, info: InputLayerInfo | None, rng):
    """Random data of the tensor's type, in the ranges of tools/utils.cc GetDataRangesForType."""
    import numpy as np

    dtype, shape = np.dtype(detail["dtype"]), tuple(int(d) for d in detail["shape"])
    if dtype.kind == "f" or dtype.kind == "c":
        return rng.uniform(-0.5, 0.5, size=shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(dtype)
    if dtype.kind not in "iu":
        fatal(f"Don't know how to populate tensor {detail['name']} of type {dtype}")
    if info is not None and info.value_range is not None:
        low, high = info.value_range
    else:
        low, high = {np.dtype(np.uint8): (0, 254), np.dtype(np.int8): (-127, 127),
                     np.dtype(np.int16): (0, 0), np.dtype(np.uint16): (0, 0)}.get(dtype, (0, 99))
    return rng.integers(low, high, size=shape, endpoint=True).astype(dtype)


def file_input(detail: dict, path: str):
    import numpy as np

    dtype, shape = np.dtype(detail["dtype"]), tuple(int(d) for d in detail["shape"])
    expected_bytes = int(np.prod(shape)) * dtype.itemsize
    try:
        data = open(path, "rb").read()
    except OSError:
        fatal(f"Failed to read the input_layer_value_file:{path}")
    if len(data) != expected_bytes:
        fatal(f"The size of {path} is {len(data)} bytes. It should be {expected_bytes} bytes.")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


# --- the benchmark ---------------------------------------------------------------------------


@dataclasses.dataclass
class Model:
    interpreter: object
    input_indices: list[int]
    input_data: list


def litert_version() -> str:
    """The package's own version string, which this runner imports anyway; importlib.metadata
    (reading the installed distributions) was 25 ms of every runner process."""
    try:
        import ai_edge_litert

        return ai_edge_litert.__version__
    except (ImportError, AttributeError):
        pass
    from importlib import metadata

    try:
        return metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        return "unknown"


def _fail_unavailable_delegate(name: str) -> None:
    """What the real tool prints when a delegate cannot be created and applied."""
    log("WARN", f"{name} acceleration is unsupported on this platform.")
    log("ERROR", f"Failed to apply {name} delegate.")
    log("ERROR", f"the {RUNNER_NAME} runs LiteRT's CPU kernels only; benchmark --use_{name.lower()} "
                 "with the official benchmark_model binary on a device that has it")
    raise BenchmarkFailed()


def load_interpreter(params: Params):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    graph = params["graph"]
    # An explicit --use_xnnpack (true or false) drops the runtime's default delegate; "true"
    # then applies XNNPACK as an explicit delegate, which in LiteRT's Python API is the same
    # XNNPACK the default resolver applies.
    explicit_off = "use_xnnpack" in params.explicitly_set and not params["use_xnnpack"]
    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if explicit_off else OpResolverType.AUTO
    threads = params["num_threads"]
    try:
        interpreter = Interpreter(model_path=graph, num_threads=threads if threads > 0 else None,
                                  experimental_op_resolver_type=resolver)
    except (ValueError, RuntimeError) as e:
        log("ERROR", f"Failed to load model {graph}")
        log("ERROR", str(e))
        raise BenchmarkFailed() from None
    log("INFO", f"Loaded model {graph}")
    return interpreter


def check_signature(interpreter, params: Params) -> None:
    keys = list(interpreter.get_signature_list())
    wanted = params["signature_to_run_for"]
    if not keys:
        if wanted:
            log("ERROR", "Signature key is specified, but the model does not have any signatures.")
            raise BenchmarkFailed()
        return
    if len(keys) == 1 and not wanted:
        wanted = keys[0]
    elif wanted not in keys:
        log("ERROR", 'Signature not specified or incorrect. Pass one of the following to the flag '
                     '"--signature_to_run_for"')
        for key in keys:
            log("ERROR", f" #> Signature key: {key}")
        raise BenchmarkFailed()
    log("INFO", f"Using signature: {wanted}")
    subgraph = interpreter.get_signature_runner(wanted)._subgraph_index
    if subgraph != 0:
        log("ERROR", f"signature {wanted} runs subgraph {subgraph}; the {RUNNER_NAME} benchmarks the "
                     "primary subgraph only")
        raise BenchmarkFailed()


def resize_inputs(interpreter, infos: list[InputLayerInfo]) -> None:
    details = interpreter.get_input_details()
    if infos and len(infos) != len(details):
        fatal(f"Inputs mismatch: Model inputs #:{len(infos)} expected: {len(details)}")
    for info, detail in zip(infos, details):
        if info.name != detail["name"]:
            log("WARN", f"Tensor # {detail['index']} is named {detail['name']} but flags call it {info.name}")
        if len(info.shape) != len(detail["shape"]):
            log("ERROR", f"Input tensor #{detail['index']} should have {len(detail['shape'])} dimensions!")
            raise BenchmarkFailed()
    for info, detail in zip(infos, details):
        interpreter.resize_tensor_input(detail["index"], info.shape)


def delegated_nodes(interpreter) -> tuple[int, int, int]:
    """(nodes replaced by delegate kernels, nodes of the model, delegate kernels) in subgraph 0.

    LiteRT's Python API lists the original nodes plus one DELEGATE node per partition; a node
    belongs to a partition when it is reached walking back from the partition's outputs
    without crossing its inputs."""
    ops = interpreter._get_ops_details()
    partitions = [op for op in ops if op["op_name"] == "DELEGATE"]
    originals = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): op["index"] for op in originals for t in op["outputs"]}
    by_index = {op["index"]: op for op in originals}
    replaced: set[int] = set()
    for partition in partitions:
        boundary = {int(t) for t in partition["inputs"]}
        frontier = [int(t) for t in partition["outputs"]]
        while frontier:
            tensor = frontier.pop()
            node = producer.get(tensor)
            if tensor in boundary or node is None or node in replaced:
                continue
            replaced.add(node)
            frontier.extend(int(t) for t in by_index[node]["inputs"] if t >= 0)
    return len(replaced), len(originals), len(partitions)


def report_delegation(interpreter, params: Params) -> None:
    nodes, total, partitions = delegated_nodes(interpreter)
    if partitions:
        log("VERBOSE", f"Replacing {nodes} out of {total} node(s) with delegate (TfLiteXNNPackDelegate) node, "
                       f"yielding {partitions} partitions for subgraph 0.")
    explicit = params["use_xnnpack"] and "use_xnnpack" in params.explicitly_set
    fully = partitions == 1 and nodes == total
    if params["require_full_delegation"] and not (explicit and fully):
        # Without an explicit delegate the real tool checks nothing but refuses CPU fallback.
        log("ERROR", "Disallowed CPU fallback detected.")
        raise BenchmarkFailed()
    if not explicit:
        return
    if fully:
        log("INFO", "Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate.")
    elif partitions:
        log("INFO", f"Explicitly applied XNNPACK delegate, and the model graph will be partially executed by "
                    f"the delegate w/ {partitions} delegate kernels.")
    else:
        log("INFO", "Though XNNPACK delegate is explicitly applied, the model graph will not be executed by the delegate.")


def init_model(params: Params, infos: list[InputLayerInfo]):
    """BenchmarkTfLiteModel::Init: load, delegates, allocate (the timed init)."""
    interpreter = load_interpreter(params)
    check_signature(interpreter, params)
    if params["use_gpu"]:
        _fail_unavailable_delegate("GPU")
    if params["use_nnapi"]:
        _fail_unavailable_delegate("NNAPI")
    resize_inputs(interpreter, infos)
    if params["use_xnnpack"] and "use_xnnpack" in params.explicitly_set:
        log("INFO", "XNNPACK delegate created.")
    try:
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        log("ERROR", str(e).strip())
        log("ERROR", "Failed to allocate tensors!")
        raise BenchmarkFailed() from None
    report_delegation(interpreter, params)
    return interpreter


def prepare_inputs(interpreter, infos: list[InputLayerInfo]) -> Model:
    import numpy as np

    # The real tool's engine is a default-seeded mt19937: every run gets the same inputs.
    rng = np.random.default_rng(5489)
    details = interpreter.get_input_details()
    data = []
    for i, detail in enumerate(details):
        info = infos[i] if infos else None
        if info is not None and info.value_file:
            data.append(file_input(detail, info.value_file))
        else:
            data.append(random_input(detail, info, rng))
    return Model(interpreter, [d["index"] for d in details], data)


class Benchmark:
    def __init__(self, params: Params):
        self.params = params
        self.fault = params["squeezebench_fault"]
        self.slowdown = params["squeezebench_slowdown"]

    def run_phase(self, model: Model, min_runs: int, min_secs: float, max_secs: float,
                  samples_ns: array.array, *, measured: bool) -> list[int]:
        """BenchmarkModel::Run(min_num_times, min_secs, max_secs): per-run latencies in µs."""
        log("INFO", f"Running benchmark for at least {min_runs} iterations and at least {fmt(min_secs)} "
                    f"seconds but terminate if exceeding {fmt(max_secs)} seconds.")
        if measured and self.fault and self.fault != "truncate":
            inject_fault(self.fault)
        first = len(samples_ns)
        try:
            self._loop(model, min_runs, min_secs, max_secs, samples_ns)
        except (ValueError, RuntimeError) as e:
            log("ERROR", str(e).strip())
            raise BenchmarkFailed() from None
        values_us = [ns // 1000 for ns in samples_ns[first:]]
        line = stats_line(values_us)
        if measured and self.fault == "truncate":
            sys.stdout.write(f"INFO: {line[: len(line) // 2]}")
            sys.stdout.flush()
            os._exit(0)
        log("INFO", line + "\n")
        return values_us

    def _loop(self, model: Model, min_runs: int, min_secs: float, max_secs: float,
              samples_ns: array.array) -> None:
        # The hot loop: only invoke() is timed. Everything is bound to locals, and samples go
        # into an array of machine integers, so a run costs two clock reads and one append
        # besides the input copy the real tool also makes.
        clock = time.perf_counter_ns
        invoke = model.interpreter.invoke
        set_tensor = model.interpreter.set_tensor
        inputs = list(zip(model.input_indices, model.input_data))
        record = samples_ns.append
        delay_s = self.params["run_delay"]
        slowdown = self.slowdown
        now = clock()
        min_finish = now + int(min_secs * 1e9)
        max_finish = now + int(max_secs * 1e9)
        runs = 0
        while (runs < min_runs or now < min_finish) and now <= max_finish:
            for index, data in inputs:
                set_tensor(index, data)
            start = clock()
            invoke()
            end = clock()
            if slowdown != 1.0:
                end = wait_until(start + int((end - start) * slowdown))
            record(end - start)
            if delay_s > 0:
                time.sleep(delay_s)
            now = clock()
            runs += 1

    def run(self) -> None:
        params = self.params
        infos = input_layer_infos(params)
        log_params(params)

        monitor = None
        if params["report_peak_memory_footprint"]:
            monitor = PeakMemoryMonitor(params["memory_footprint_check_interval_ms"])
            monitor.start()
        model_size_mb = self._model_size_mb()
        start_rss_kb = max_rss_kb()
        init_start = time.perf_counter_ns()
        interpreter = init_model(params, infos)
        init_rss_kb = max_rss_kb()
        init_us = (time.perf_counter_ns() - init_start) // 1000
        if model_size_mb > 0:
            log("INFO", f"The input model file size (MB): {fmt(model_size_mb)}")
        else:
            log("WARN", "Failed to get the input model file size.")
        log("INFO", f"Initialized session in {fmt(init_us / 1e3)}ms.")
        model = prepare_inputs(interpreter, infos)

        samples_ns = array.array("q")
        warmup_us = self.run_phase(model, params["warmup_runs"], params["warmup_min_secs"],
                                   params["max_secs"], samples_ns, measured=False)
        measured_us = self.run_phase(model, params["num_runs"], params["min_secs"], params["max_secs"],
                                     samples_ns, measured=True)
        overall_rss_kb = max_rss_kb()
        peak_mb = monitor.stop() if monitor else None
        if params["squeezebench_latencies_file"]:
            write_latencies(params["squeezebench_latencies_file"], samples_ns, len(warmup_us))

        log("INFO", f"Inference timings in us: Init: {init_us}, First inference: "
                    f"{warmup_us[0] if warmup_us else 0}, Warmup (avg): {fmt(average(warmup_us))}, "
                    f"Inference (avg): {fmt(average(measured_us))}")
        log("INFO", "Note: as the benchmark tool itself affects memory footprint, the following is only "
                    "APPROXIMATE to the actual memory footprint of the model at runtime. Take the "
                    "information at your discretion.")
        log("INFO", f"Memory footprint delta from the start of the tool (MB): "
                    f"init={fmt((init_rss_kb - start_rss_kb) / 1024.0)} "
                    f"overall={fmt((overall_rss_kb - start_rss_kb) / 1024.0)}")
        if peak_mb:
            log("INFO", f"Overall peak memory footprint (MB) via periodic monitoring: {fmt(peak_mb)}")
            log_memory_status()
        if params["output_filepath"]:
            write_outputs(params["output_filepath"], model.interpreter, params["squeezebench_output_noise"])
        if params["enable_op_profiling"]:
            profile_operators(params, model, len(measured_us))

    def _model_size_mb(self) -> float:
        try:
            return os.path.getsize(self.params["graph"]) / 1e6
        except OSError:
            return -1.0


# --- op profiling: LiteRT's profiler through its C API, summarized as profile_summarizer.cc ---

# tflite::Profiler::EventType (litert/c/litert_profiler_event.h)
_DEFAULT_EVENT = 1
_OPERATOR_INVOKE_EVENT = 2
_DELEGATE_OPERATOR_INVOKE_EVENT = 4
_DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT = 8
_OPERATOR_EVENTS = (_OPERATOR_INVOKE_EVENT, _DELEGATE_OPERATOR_INVOKE_EVENT, _DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT)
_CPU_ACCELERATOR = 1  # kLiteRtHwAcceleratorCpu
_TOP_BY_TIME_ROWS = 10  # StatSummarizerOptions::time_limit
_NODE_TYPE_WIDTH = 40  # kNodeTypeWidth of xla/tsl/util/stats_calculator.cc


class ProfilerUnavailable(Exception):
    """LiteRT's profiler cannot be used here; the message says why."""


@dataclasses.dataclass(frozen=True)
class ProfileEvent:
    tag: str
    event_type: int
    elapsed_us: int
    metadata: int  # node index (operator events)
    subgraph: int


class LiteRtCApi:
    """The few functions of LiteRT's C API (libLiteRt.so, shipped in the ai_edge_litert wheel)
    that a profiled CompiledModel needs; LiteRT's Python API exposes no profiler."""

    def __init__(self):
        import ctypes
        import ai_edge_litert

        path = os.path.join(os.path.dirname(ai_edge_litert.__file__), "libLiteRt.so")
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as e:
            raise ProfilerUnavailable(f"LiteRT's C library cannot be loaded ({e})") from None
        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None)
        self.libc.strdup.restype, self.libc.strdup.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        self.free_fn_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
        self.free = self.free_fn_type(ctypes.cast(self.libc.free, ctypes.c_void_p).value)
        voids = ("LiteRtDestroyEnvironment", "LiteRtDestroyModel", "LiteRtDestroyOptions",
                 "LiteRtDestroyCompiledModel", "LiteRtDestroyTensorBuffer")
        for name in voids:
            self._function(name).restype = None
        self._function("LiteRtCreateOpaqueOptions").argtypes = [
            ctypes.c_char_p, ctypes.c_void_p, self.free_fn_type, ctypes.POINTER(ctypes.c_void_p)]

    def _function(self, name: str):
        try:
            return getattr(self.lib, name)
        except AttributeError:
            raise ProfilerUnavailable(f"this LiteRT has no {name} in its C API") from None

    def __call__(self, name: str, *args) -> None:
        status = self._function(name)(*args)
        if status != 0:
            raise ProfilerUnavailable(f"LiteRT's {name} returned status {status}")

    def destroy(self, name: str, handle) -> None:
        if handle:
            self._function(name)(handle)

    def owned_string(self, text: str):
        """A malloc'ed copy that LiteRT frees when it is done with it."""
        return self.ctypes.c_void_p(self.libc.strdup(text.encode()))


class ProfiledCompiledModel:
    """The graph compiled by LiteRT (CompiledModel, CPU accelerator: XNNPACK, or the builtin
    kernels with --use_xnnpack=false) with LiteRT's profiler on, fed the benchmark's inputs."""

    def __init__(self, api: LiteRtCApi, params: Params, inputs_by_tensor: dict):
        self.api = api
        self.handles: list[tuple[str, object]] = []  # destroyed in reverse order
        try:
            self._compile(params, inputs_by_tensor)
        except ProfilerUnavailable:
            self.close()
            raise

    def _compile(self, params: Params, inputs_by_tensor: dict) -> None:
        api, c = self.api, self.api.ctypes
        env = self._create("LiteRtCreateEnvironment", "LiteRtDestroyEnvironment", 0, None)
        model = self._create("LiteRtCreateModelFromFile", "LiteRtDestroyModel", env, params["graph"].encode())
        options = self._create("LiteRtCreateOptions", "LiteRtDestroyOptions")
        api("LiteRtSetOptionsHardwareAccelerators", options, _CPU_ACCELERATOR)
        for identifier, toml in self._option_payloads(params):
            opaque = c.c_void_p()
            api("LiteRtCreateOpaqueOptions", identifier, api.owned_string(toml), api.free, c.byref(opaque))
            api("LiteRtAddOpaqueOptions", options, opaque)  # options own it now
        self.compiled = self._create("LiteRtCreateCompiledModel", "LiteRtDestroyCompiledModel", env, model, options)
        self.profiler = c.c_void_p()
        api("LiteRtCompiledModelGetProfiler", self.compiled, c.byref(self.profiler))
        if not self.profiler:
            raise ProfilerUnavailable("LiteRT compiled the model without a profiler")
        signature = c.c_void_p()
        api("LiteRtGetModelSignature", model, c.c_size_t(0), c.byref(signature))
        input_layouts, resized = self._input_layouts(signature, inputs_by_tensor)
        self.inputs = self._buffers(env, signature, "Input", input_layouts)
        self.outputs = self._buffers(env, signature, "Output", self._output_layouts(signature, resized))
        for (tensor_index, buffer, size) in self.inputs:
            self._fill(buffer, size, inputs_by_tensor.get(tensor_index))

    @staticmethod
    def _option_payloads(params: Params) -> list[tuple[bytes, str]]:
        """LiteRT's opaque options, as the TOML its Lrt*Options C helpers write."""
        cpu = []
        if params["num_threads"] > 0:
            cpu.append(f"num_threads = {params['num_threads']}")
        if "use_xnnpack" in params.explicitly_set and not params["use_xnnpack"]:
            cpu.append('kernel_mode = "builtin"')
        payloads = [(b"runtime_options_string", "enable_profiling = true\n")]
        if cpu:
            payloads.append((b"xnnpack", "\n".join(cpu) + "\n"))
        return payloads

    def _create(self, create: str, destroy: str, *args):
        handle = self.api.ctypes.c_void_p()
        self.api(create, *args, self.api.ctypes.byref(handle))
        self.handles.append((destroy, handle))
        return handle

    def _signature_tensors(self, signature, kind: str) -> list:
        c = self.api.ctypes
        count = c.c_size_t()
        self.api(f"LiteRtGetNumSignature{kind}s", signature, c.byref(count))
        tensors = []
        for i in range(count.value):
            tensor = c.c_void_p()
            self.api(f"LiteRtGetSignature{kind}TensorByIndex", signature, c.c_size_t(i), c.byref(tensor))
            tensors.append(tensor)
        return tensors

    def _input_layouts(self, signature, inputs_by_tensor: dict) -> tuple[list, bool]:
        """Each input's layout as compiled, inputs with a dynamic dimension (a Keras model's batch
        of None) resized first to the shape the benchmark feeds (LiteRT cannot size a buffer
        for a dynamic dimension); and whether any was resized."""
        c = self.api.ctypes
        layouts, resized = [], False
        for i, tensor in enumerate(self._signature_tensors(signature, "Input")):
            tensor_index = c.c_uint32()
            self.api("LiteRtGetTensorIndex", tensor, c.byref(tensor_index))
            data = inputs_by_tensor.get(tensor_index.value)
            if data is not None and any(d < 0 for d in self._ranked_type(tensor).dimensions()):
                dims = (c.c_int * data.ndim)(*data.shape)
                self.api("LiteRtCompiledModelResizeInputTensor", self.compiled, c.c_size_t(0), c.c_size_t(i),
                         dims, c.c_size_t(data.ndim))
                resized = True
            layout = c.create_string_buffer(_LAYOUT_BYTES)
            self.api("LiteRtGetCompiledModelInputTensorLayout", self.compiled, c.c_size_t(0), c.c_size_t(i), layout)
            layouts.append(layout.raw)
        return layouts, resized

    def _output_layouts(self, signature, resized: bool) -> list:
        """The outputs' layouts as the compiled model has them. After an input resize LiteRT
        allocates its tensors here to know them; otherwise that is left to the first run, whose
        AllocateTensors event is the initialization profile."""
        c = self.api.ctypes
        count = len(self._signature_tensors(signature, "Output"))
        layouts = c.create_string_buffer(_LAYOUT_BYTES * max(count, 1))
        self.api("LiteRtGetCompiledModelOutputTensorLayouts", self.compiled, c.c_size_t(0), c.c_size_t(count),
                 layouts, c.c_bool(resized))
        return [layouts.raw[i * _LAYOUT_BYTES:(i + 1) * _LAYOUT_BYTES] for i in range(count)]

    def _ranked_type(self, tensor) -> "_RankedType":
        ranked = _RankedType(self.api.ctypes.create_string_buffer(_RANKED_TYPE_BYTES))
        self.api("LiteRtGetRankedTensorType", tensor, ranked.buffer)
        return ranked

    def _buffers(self, env, signature, kind: str, layouts: list) -> list:
        c = self.api.ctypes
        buffers = []
        for i, tensor in enumerate(self._signature_tensors(signature, kind)):
            tensor_index, size = c.c_uint32(), c.c_size_t()
            self.api("LiteRtGetTensorIndex", tensor, c.byref(tensor_index))
            ranked = self._ranked_type(tensor)
            ranked.set_layout(layouts[i])
            requirements = c.c_void_p()
            self.api(f"LiteRtGetCompiledModel{kind}BufferRequirements", self.compiled, c.c_size_t(0),
                     c.c_size_t(i), c.byref(requirements))
            self.api("LiteRtGetTensorBufferRequirementsBufferSize", requirements, c.byref(size))
            buffer = self._create("LiteRtCreateManagedTensorBufferFromRequirements", "LiteRtDestroyTensorBuffer",
                                  env, ranked.buffer, requirements)
            buffers.append((tensor_index.value, buffer, size.value))
        return buffers

    def _fill(self, buffer, size: int, data) -> None:
        if data is None or data.nbytes != size:
            raise ProfilerUnavailable("the compiled model's inputs do not match the benchmark's "
                                      "(--input_layer_shape is not applied to the op profiling pass)")
        c = self.api.ctypes
        address = c.c_void_p()
        self.api("LiteRtLockTensorBuffer", buffer, c.byref(address), 1)  # kLiteRtTensorBufferLockModeWrite
        c.memmove(address, data.tobytes(), size)
        self.api("LiteRtUnlockTensorBuffer", buffer)

    def profiled_run(self) -> list[ProfileEvent]:
        """One run with the profiler on: its events, in the order they were recorded."""
        c, api = self.api.ctypes, self.api
        inputs = (c.c_void_p * len(self.inputs))(*[b for _, b, _ in self.inputs])
        outputs = (c.c_void_p * len(self.outputs))(*[b for _, b, _ in self.outputs])
        api("LiteRtResetProfiler", self.profiler)
        api("LiteRtStartProfiler", self.profiler)
        api("LiteRtRunCompiledModel", self.compiled, c.c_size_t(0), c.c_size_t(len(self.inputs)), inputs,
            c.c_size_t(len(self.outputs)), outputs)
        api("LiteRtStopProfiler", self.profiler)
        count = c.c_int()
        api("LiteRtGetNumProfilerEvents", self.profiler, c.byref(count))
        events = (_profiled_event_type(c) * max(count.value, 1))()
        api("LiteRtGetProfilerEvents", self.profiler, count, events)
        return [ProfileEvent(e.tag.decode(errors="replace"), e.event_type, e.elapsed_time_us, e.event_metadata1,
                             e.event_metadata2) for e in events[:count.value]]

    def close(self) -> None:
        for destroy, handle in reversed(self.handles):
            self.api.destroy(destroy, handle)
        self.handles.clear()


# litert/c/litert_layout.h and litert_model_types.h (ABI-stable): a LiteRtLayout is the rank and
# has_strides bit-fields in one 4-byte unit, then int32 dimensions[8] and uint32 strides[8]; a
# LiteRtRankedTensorType is a 4-byte element type followed by its layout.
_MAX_RANK = 8
_LAYOUT_BYTES = 4 + 4 * _MAX_RANK * 2
_RANKED_TYPE_BYTES = 4 + _LAYOUT_BYTES


class _RankedType:
    """A LiteRtRankedTensorType in a ctypes buffer, passed through to LiteRT."""

    def __init__(self, buffer):
        self.buffer = buffer

    def dimensions(self) -> tuple[int, ...]:
        rank = self.buffer.raw[4] & 0x7F
        return tuple(array.array("i", self.buffer.raw[8:8 + 4 * _MAX_RANK])[:rank])

    def set_layout(self, layout: bytes) -> None:
        self.buffer[4:4 + _LAYOUT_BYTES] = layout


@functools.cache
def _profiled_event_type(c):
    """ProfiledEventData of litert/c/litert_profiler_event.h."""

    class MemoryUsage(c.Structure):
        _fields_ = [("total_allocated_bytes", c.c_size_t), ("in_use_allocated_bytes", c.c_size_t),
                    ("private_footprint_bytes", c.c_size_t)]

    class ProfiledEventData(c.Structure):
        _fields_ = [("tag", c.c_char_p), ("event_type", c.c_int), ("start_timestamp_us", c.c_uint64),
                    ("elapsed_time_us", c.c_uint64), ("begin_mem_usage", MemoryUsage),
                    ("end_mem_usage", MemoryUsage), ("event_metadata1", c.c_uint64),
                    ("event_metadata2", c.c_uint64), ("event_source", c.c_int)]

    return ProfiledEventData


def _field(value, width: int) -> str:
    """InitField: a tab, then the value right-aligned, floats with 3 decimals (std::fixed)."""
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return "\t" + text.rjust(width)


@dataclasses.dataclass
class _NodeDetail:
    node_type: str
    name: str
    run_order: int
    elapsed_us: list = dataclasses.field(default_factory=list)
    times_called: int = 0


class StatsCalculator:
    """xla/tsl/util/stats_calculator.cc with the options ProfileSummaryDefaultFormatter sets: run
    order (all nodes), the 10 slowest, the summary by node type; no memory table. [mem KB] is 0:
    LiteRT's C API does not report the memory footprint of an event."""

    def __init__(self):
        self.details: dict[str, _NodeDetail] = {}
        self.run_totals_us: list[int] = []

    def add_node_stats(self, name: str, node_type: str, run_order: int, elapsed_us: int) -> None:
        detail = self.details.setdefault(name, _NodeDetail(node_type, name, run_order))
        detail.elapsed_us.append(elapsed_us)
        detail.times_called += 1

    def num_runs(self) -> int:
        return len(self.run_totals_us)

    def output_string(self) -> str:
        by_run_order = sorted(self.details.values(), key=lambda d: d.run_order)
        by_time = sorted(by_run_order, key=lambda d: average(d.elapsed_us), reverse=True)
        return (self._stats_by_metric("Run Order", by_run_order)
                + self._stats_by_metric("Top by Computation Time", by_time[:_TOP_BY_TIME_ROWS])
                + self._stats_by_node_type())

    def short_summary(self) -> str:
        return (f"Timings (microseconds): {stat_line(self.run_totals_us)}\nMemory (bytes): count=0\n"
                f"{len(self.details)} nodes observed\n")

    def _stats_by_metric(self, title: str, details: list[_NodeDetail]) -> str:
        header = (f"============================== {title} ==============================\n"
                  f"{_field('[node type]', _NODE_TYPE_WIDTH)}{_field('[first]', 9)}{_field('[avg ms]', 9)}"
                  f"{_field('[%]', 8)}{_field('[cdf%]', 8)}{_field('[mem KB]', 10)}{_field('[times called]', 9)}"
                  "\t[Name]\n")
        total_us = sum(self.run_totals_us)
        cumulative_us = 0
        rows = []
        for detail in details:
            cumulative_us += sum(detail.elapsed_us)
            rows.append(
                f"{_field(detail.node_type, _NODE_TYPE_WIDTH)}{_field(detail.elapsed_us[0] / 1000.0, 9)}"
                f"{_field(average(detail.elapsed_us) / 1000.0, 9)}"
                f"{_field(_ratio(sum(detail.elapsed_us) * 100.0, total_us), 7)}%"
                f"{_field(_ratio(cumulative_us * 100.0, total_us), 7)}%{_field(0.0, 10)}"
                f"{_field(detail.times_called // self.num_runs(), 9)}\t{detail.name}\n")
        return header + "".join(rows) + "\n"

    def _stats_by_node_type(self) -> str:
        import numpy as np

        runs = self.num_runs()
        count: dict[str, int] = {}
        time_us: dict[str, int] = {}
        called: dict[str, int] = {}
        for detail in self.details.values():
            per_run_us = sum(detail.elapsed_us) // runs
            count[detail.node_type] = count.get(detail.node_type, 0) + 1
            time_us[detail.node_type] = time_us.get(detail.node_type, 0) + per_run_us
            called[detail.node_type] = called.get(detail.node_type, 0) + detail.times_called // runs
        accumulated_us = np.float32(sum(time_us.values()))
        lines = [f"Number of nodes executed: {len(self.details)}\n",
                 "============================== Summary by node type ==============================\n",
                 f"{_field('[Node type]', _NODE_TYPE_WIDTH)}{_field('[count]', 9)}{_field('[avg ms]', 10)}"
                 f"{_field('[avg %]', 11)}{_field('[cdf %]', 11)}{_field('[mem KB]', 10)}{_field('[times called]', 10)}\n"]
        cdf = np.float32(0)
        # The tool sums these in float (32-bit), largest time first, ties by type name (descending).
        for node_type, total_us in sorted(time_us.items(), key=lambda item: (item[1], item[0]), reverse=True):
            with np.errstate(divide="ignore", invalid="ignore"):
                percent = np.float32(np.float32(total_us) / accumulated_us) * np.float32(100)
            cdf = np.float32(cdf + percent)
            lines.append(f"{_field(node_type, _NODE_TYPE_WIDTH)}{_field(count[node_type], 9)}"
                         f"{_field(float(np.float32(total_us) / np.float32(1000)), 10)}"
                         f"{_field(float(percent), 10)}%{_field(float(cdf), 10)}%{_field(0.0, 10)}"
                         f"{_field(called[node_type], 9)}\n")
        return "".join(lines) + "\n"


def _ratio(numerator: float, denominator: int) -> float:
    """IEEE division as the tool does it: a zero total gives nan, not an exception."""
    return numerator / denominator if denominator else math.nan


class ProfileSummarizer:
    """tflite/profiling/profile_summarizer.cc: one StatsCalculator per subgraph, one for the
    delegates' internal operators; fed one run's events at a time."""

    def __init__(self, node_names: Callable[[int, int], str]):
        self.node_names = node_names
        self.calculators: dict[int, StatsCalculator] = {0: StatsCalculator()}
        self.delegate_calculator = StatsCalculator()

    def process(self, events: list[ProfileEvent]) -> None:
        totals_us: dict[int, int] = {}
        delegate_total_us = 0
        for node_num, event in enumerate(e for e in events if e.tag != "Invoke"):
            calculator = self.calculators.setdefault(event.subgraph, StatsCalculator())
            if event.event_type == _OPERATOR_INVOKE_EVENT:
                name = f"{self.node_names(event.subgraph, event.metadata)}:{event.metadata}"
                calculator.add_node_stats(name, event.tag, node_num, event.elapsed_us)
            elif event.event_type == _DELEGATE_OPERATOR_INVOKE_EVENT:
                self.delegate_calculator.add_node_stats(f"Delegate/{event.tag}:{event.metadata}", "DelegateOpInvoke",
                                                        node_num, event.elapsed_us)
            elif event.event_type == _DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT:
                calculator.add_node_stats(f"Delegate/{event.tag}:{event.metadata}", event.tag, node_num,
                                          event.elapsed_us)
            else:
                calculator.add_node_stats(f"{event.tag}/{event.subgraph}", event.tag, node_num, event.elapsed_us)
            if event.event_type == _DELEGATE_OPERATOR_INVOKE_EVENT:
                delegate_total_us += event.elapsed_us
            else:
                totals_us[event.subgraph] = totals_us.get(event.subgraph, 0) + event.elapsed_us
        for subgraph, total_us in totals_us.items():
            self.calculators[subgraph].run_totals_us.append(total_us)
        if delegate_total_us > 0:
            self.delegate_calculator.run_totals_us.append(delegate_total_us)

    def has_profiles(self) -> bool:
        return any(calculator.num_runs() >= 1 for calculator in self.calculators.values())

    def output_string(self, subgraph_names: Callable[[int], str]) -> str:
        """ProfileSummaryDefaultFormatter::GenerateReport("profile", ...)."""
        several = len(self.calculators) > 1
        parts = []
        for index, calculator in sorted(self.calculators.items()):
            if several:
                where = "Primary graph (" if index == 0 else f"Subgraph (index: {index}, "
                parts.append(f"{where}name: {subgraph_names(index)}) profile:\n")
            parts.append(calculator.output_string())
            if index != 0:
                parts.append(f"Subgraph (index: {index}, name: {subgraph_names(index)}) ")
            parts.append(calculator.short_summary() + "\n")
        if self.delegate_calculator.num_runs() > 0:
            parts += ["Delegate internal: \n", self.delegate_calculator.output_string(),
                      self.delegate_calculator.short_summary() + "\n"]
        return "".join(parts)


class FlatbufferNames:
    """Subgraph and output-tensor names read from the .tflite file, for the profile's [Name]
    column (`[out1, out2]:<node index>`, as the tool writes it)."""

    def __init__(self, graph: str):
        from ai_edge_litert import schema_py_generated as schema

        with open(graph, "rb") as model_file:
            self.model = schema.Model.GetRootAs(model_file.read(), 0)

    def subgraph(self, index: int) -> str:
        name = self.model.Subgraphs(index).Name() if index < self.model.SubgraphsLength() else None
        return name.decode() if name else ""

    def node(self, subgraph_index: int, node_index: int) -> str:
        subgraph = self.model.Subgraphs(subgraph_index)
        if subgraph is None or node_index >= subgraph.OperatorsLength():
            return "[Unknown]"
        operator = subgraph.Operators(node_index)
        outputs = (operator.Outputs(i) for i in range(operator.OutputsLength()))
        names = [(subgraph.Tensors(t).Name() or b"Unknown").decode() if t >= 0 else "Unknown" for t in outputs]
        return "[" + ", ".join(names) + "]"


def profile_operators(params: Params, model: Model, runs: int) -> None:
    """--enable_op_profiling: `runs` profiled runs of the graph in a pass of their own, after the
    timed runs (which had no profiler attached), printed as the tool prints its profile."""
    try:
        init_output, run_output = _profile(params, model, max(runs, 1))
    except ProfilerUnavailable as e:
        log("WARN", f"op profiling is not available in the {RUNNER_NAME}: {e}")
        return
    if init_output:
        log("INFO", f"Profiling Info for Benchmark Initialization:\n{init_output}")
    log("INFO", f"Operator-wise Profiling Info for Regular Benchmark Runs:\n{run_output}")


def _profile(params: Params, model: Model, runs: int) -> tuple[str, str]:
    api = LiteRtCApi()
    names = FlatbufferNames(params["graph"])
    init = ProfileSummarizer(names.node)
    regular = ProfileSummarizer(names.node)
    with only_errors_on_stderr():
        compiled = ProfiledCompiledModel(api, params, dict(zip(model.input_indices, model.input_data)))
        try:
            # LiteRT allocates its tensors in the first run: that run's non-operator events are
            # the initialization profile; the runs after it are the regular runs.
            init.process([e for e in compiled.profiled_run() if _is_init_event(e)])
            for _ in range(runs):
                regular.process([e for e in compiled.profiled_run() if _is_run_event(e)])
        finally:
            compiled.close()
    init_output = init.output_string(names.subgraph) if init.has_profiles() else ""
    return init_output, regular.output_string(names.subgraph)


@contextlib.contextmanager
def only_errors_on_stderr():
    """LiteRT's environment logs its accelerator search to stderr (no NPU or GPU library here,
    "Creating LiteRT environment", ...): lines about the profiling pass's setup, not about the
    benchmark. Its errors still go through."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.startswith(("ERROR", "FATAL")):
                    sys.stderr.write(line + "\n")
            sys.stderr.flush()


def _is_run_event(event: ProfileEvent) -> bool:
    # LiteRT::Run[...] events time the CompiledModel's buffer hand-over, which the timed
    # interpreter runs do not do; telemetry events carry no duration.
    return event.event_type in _OPERATOR_EVENTS or (
        event.event_type == _DEFAULT_EVENT and not event.tag.startswith("LiteRT::")
    )


def _is_init_event(event: ProfileEvent) -> bool:
    return _is_run_event(event) and event.event_type == _DEFAULT_EVENT


def wait_until(deadline_ns: int) -> int:
    """Sleep, then spin for the last stretch, until perf_counter_ns() reaches the deadline."""
    now = time.perf_counter_ns()
    if deadline_ns - now > _SPIN_BELOW_NS:
        time.sleep((deadline_ns - now - _SPIN_BELOW_NS) / 1e9)
    while now < deadline_ns:
        now = time.perf_counter_ns()
    return now


def write_latencies(path: str, samples_ns: array.array, warmup_count: int) -> None:
    lines = [f"# {RUNNER_NAME} {RUNNER_VERSION}: per-run latency in microseconds; "
             f"'warmup' lines are warm-up runs, plain numbers are measured runs"]
    lines += [f"warmup {ns / 1000:.3f}" for ns in samples_ns[:warmup_count]]
    lines += [f"{ns / 1000:.3f}" for ns in samples_ns[warmup_count:]]
    try:
        with open(path, "w") as out:
            out.write("\n".join(lines) + "\n")
    except OSError as e:
        log("ERROR", f"Failed to write the latencies file {path}: {e.strerror}")
        raise BenchmarkFailed() from None


def write_outputs(path: str, interpreter, noise: float) -> None:
    """--output_filepath, as the tool's OutputSaver: the raw bytes of every output tensor, in the
    interpreter's output order, as the last run left them. Like the tool, a file that cannot be
    opened is skipped without a word (the host notices the missing file)."""
    try:
        with open(path, "wb") as out:
            for detail in interpreter.get_output_details():
                out.write(perturbed(interpreter.get_tensor(detail["index"]), noise).tobytes())
    except OSError:
        pass


def perturbed(values, noise: float):
    """The TEST SWITCH --squeezebench_output_noise: every value moved by up to `noise` times the
    tensor's largest magnitude (seeded, so a test sees the same wrong outputs every time)."""
    if noise == 0:
        return values
    import numpy as np

    magnitude = float(np.abs(values.astype(np.float64)).max()) or 1.0
    shift = np.random.default_rng(20240614).uniform(-1, 1, values.shape) * noise * magnitude
    moved = values.astype(np.float64) + shift
    if values.dtype.kind in "iu":
        limits = np.iinfo(values.dtype)
        moved = np.clip(np.rint(moved), limits.min, limits.max)
    return moved.astype(values.dtype)


def inject_fault(fault: str) -> None:
    """The TEST SWITCH --squeezebench_fault: fail the way real runners fail."""
    sys.stdout.flush()
    sys.stderr.flush()
    if fault == "segfault":
        import ctypes
        import signal

        signal.signal(signal.SIGSEGV, signal.SIG_DFL)  # no Python fault handler in the way
        ctypes.string_at(0)  # a real invalid memory access
    elif fault == "abort":
        os.abort()
    elif fault == "hang":
        while True:
            time.sleep(3600)
    else:
        os._exit(_exit_fault_status(fault))


def main(argv: list[str]) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # a crash keeps every line already printed
    log("INFO", "STARTING!")
    log("INFO", f"{RUNNER_NAME} {RUNNER_VERSION} (LiteRT {litert_version()})")
    try:
        params, unconsumed = parse_flags(argv)
        if unconsumed:
            log("WARN", "Unconsumed cmdline flags: " + " ".join(unconsumed))
        validate(params)
        Benchmark(params).run()
    except BenchmarkFailed:
        log("ERROR", "Benchmarking failed.")
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
