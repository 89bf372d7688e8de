"""squeezebench: compress a model to TFLite at every level and benchmark each on Android devices.

Nothing heavy is imported here: `import harness` must stay instant.
"""

__version__ = "0.1.0"
