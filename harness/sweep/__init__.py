"""The sweep behind `squeezebench run` (and `squeezebench.run` in Python): models x levels x
devices x settings, one worker per device, resumable (engine.py); its spec (spec.py), its cells
(plan.py) and what it prints while it runs (progress.py)."""
