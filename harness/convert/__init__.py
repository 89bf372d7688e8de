"""Models in, one .tflite per compression level out, each measured on the host.

Public API (everything else in this package is internal):
  convert_model(source, levels, out_dir, *, data=None, random_calibration=False, jobs=1,
                progress=None) -> dict
      `source` is a path (.keras, .h5, SavedModel dir, .tflite) or a zoo name; `levels` a
      `--levels` string or a list of names. Returns the `squeezebench.conversion` document, also
      written to out_dir/convert.json beside one <level>.tflite per produced level.
  levels.parse_levels(text) -> list[str]      (validates --levels; importable without TensorFlow)
  document.load_conversion(path) -> dict      (reads convert.json, any older schema upgraded)
  document.exit_code(doc) -> ExitCode          (OK / PARTIAL / NOTHING_RAN for a finished document)

Nothing heavy is imported here; TensorFlow is loaded only when a level has to be converted.
"""

from __future__ import annotations

__all__ = ["convert_model"]


def __getattr__(name: str):
    # `convert_model(source, levels, out_dir, *, data=None, random_calibration=False, jobs=1,
    # progress=None) -> dict` lives in ladder.py; loaded on first use so importing this package
    # stays light.
    if name == "convert_model":
        from harness.convert.ladder import convert_model

        return convert_model
    raise AttributeError(f"module 'harness.convert' has no attribute {name!r}")

