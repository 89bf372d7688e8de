"""squeezebench: compress a model to TFLite at every level and benchmark each on Android devices.

Nothing heavy is imported here: `import harness` must stay instant.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # The Python API, loaded on first use so that `import harness` stays instant.
    if name == "run":
        from harness.sweep import run

        return run
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
