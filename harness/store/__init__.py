"""The results store: one directory per run, `run.json` plus raw material per cell.

Layout of `results/<run-id>/`:
    run.json                          the run: spec, host, devices' passports, every cell (run.py)
    models/<model>/convert.json       the conversion document of each model (+ its .tflite files)
    cells/<cell-dir>/bench.json       one benchmark (records.BenchResult): measurements, passport, flags
    cells/<cell-dir>/runner.log ...   raw runner output, agent result, energy samples, latencies
                                      (cell_files.py names and reads them)
    report/                           written by `squeezebench report`

`run.json` is rewritten atomically after every cell, so an interrupted run loses at most the cell
in flight, and `--resume` finishes the cells that are not done. The typed result model every
reader and writer uses is in records.py; document kinds and versions in harness/schemas.py.
"""
