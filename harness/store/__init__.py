"""The results store: one directory per run, `run.json` plus raw material per cell.

Layout of `results/<run-id>/`:
    run.json                          the run: spec, host, devices' passports, every cell
    models/<model>/convert.json       the conversion document of each model (+ its .tflite files)
    cells/<cell-dir>/bench.json       one benchmark: parsed output, energy, passport, flags
    cells/<cell-dir>/runner.log ...   raw runner output, agent result, energy samples, latencies
    report/                           written by `squeezebench report`

`run.json` is rewritten atomically after every cell, so an interrupted run loses at most the cell
in flight, and `--resume` finishes the cells that are not done.
"""

from harness.store.run import (  # noqa: F401
    CELL_DONE_STATUSES,
    RUN_KIND,
    RUN_SCHEMA_VERSION,
    RunStore,
    cell_summary,
    create_run,
    find_run,
    load_run_document,
    open_run,
)
