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
  evaluation_data(source, data) -> (x_eval, labels | None, origin) | None
      the real evaluation inputs a conversion uses (a --data .npz, else a zoo model's own), for
      outputs checked on devices

Nothing heavy is imported here; TensorFlow is loaded only when a level has to be converted.
"""

from __future__ import annotations

__all__ = ["convert_model", "evaluation_data"]


def __getattr__(name: str):
    # The public functions live in ladder.py; loaded on first use so importing this package
    # stays light.
    if name in __all__:
        from harness.convert import ladder

        return getattr(ladder, name)
    raise AttributeError(f"module 'harness.convert' has no attribute {name!r}")

