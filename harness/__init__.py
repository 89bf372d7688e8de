"""squeezebench's implementation: compress a model to TFLite at every level and benchmark each on
Android devices. The Python API is the `squeezebench` package; the CLI is harness/cli.

Nothing heavy is imported here: `import harness` must stay instant.
"""

__version__ = "0.1.0"
