"""The import contract of docs/architecture.md, checked on the source: which layer may import which,
and which packages may import the heavy third-party libraries. Every import counts, at module
level or inside a function (a lazy import still makes the dependency)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "harness"

# Layer -> the harness layers it may import besides itself. Utilities are the small modules at
# the top of harness/ (errors, jsonfile, schemas, digests, paths, units, stats) and may be
# imported by every layer.
UTILITIES = "utilities"
MAY_IMPORT = {
    "cli": {"sweep", "report", "bench", "convert", "device", "virtual", "store", "bundled_runner", UTILITIES},
    "sweep": {"bench", "convert", "device", "virtual", "store", UTILITIES},
    "report": {"store", UTILITIES},
    "bench": {"device", "store", UTILITIES},
    "convert": {"store", UTILITIES},
    "virtual": {"device", "bundled_runner", UTILITIES},
    "device": {"store", "bundled_runner", UTILITIES},  # the bundled runner is a file it pushes
    "store": {UTILITIES},
    "bundled_runner": set(),  # one self-contained file pushed to devices
    UTILITIES: {UTILITIES},
}
# Heavy third-party packages -> the harness modules (prefixes) that may import them.
HEAVY = {
    "tensorflow": ("harness.convert",),
    "tf_keras": ("harness.convert",),
    "keras": ("harness.convert",),
    "tensorflow_model_optimization": ("harness.convert",),
    "ai_edge_quantizer": ("harness.convert",),
    "sklearn": ("harness.convert",),
    "ai_edge_litert": ("harness.convert", "harness.bundled_runner", "harness.bench.outputs"),
    "adbutils": ("harness.device.adb",),
    "pandas": ("harness.report",),
    "matplotlib": ("harness.report",),
    "scipy": ("harness.stats",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module == "harness.__main__":  # `python -m harness`: the CLI
        return "cli"
    parts = module.split(".")
    if len(parts) == 1 or (len(parts) == 2 and (HARNESS / f"{parts[1]}.py").exists()):
        return UTILITIES
    return parts[1]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports, absolute, with its line."""
    found = []
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from harness.store import cell_files` imports the module harness.store.cell_files.
            found += [(node.lineno, f"{base}.{alias.name}" if (REPO / f"{base}.{alias.name}".replace(".", "/")).exists()
                       or (REPO / (f"{base}.{alias.name}".replace(".", "/") + ".py")).exists() else base)
                      for alias in node.names]  # fmt: skip
    return found


SOURCES = sorted(HARNESS.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_layers_import_only_what_the_contract_allows(path):
    module = module_name(path)
    layer = layer_of(module)
    allowed = MAY_IMPORT[layer] | {layer}
    wrong = []
    for line, imported in imports_of(path):
        top = imported.split(".")[0]
        if top == "harness" and imported != "harness":
            if layer_of(imported) not in allowed:
                wrong.append(f"line {line}: {imported} ({layer} may not import {layer_of(imported)})")
        elif top in HEAVY and not module.startswith(HEAVY[top]):
            wrong.append(f"line {line}: {imported} (only {', '.join(HEAVY[top])} may import {top})")
    assert not wrong, f"{module}: " + "; ".join(wrong)


def test_every_module_belongs_to_a_layer_of_the_contract():
    assert {layer_of(module_name(p)) for p in SOURCES} <= set(MAY_IMPORT)


def test_the_architecture_doc_names_only_modules_that_exist_and_every_package():
    doc = (REPO / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(harness/[\w/]+(?:\.py)?/?)`", doc))
    missing = [name for name in named if not (REPO / name).exists()]
    assert not missing, f"docs/architecture.md names {missing}, which do not exist"
    packages = {p.parent.relative_to(REPO).as_posix() + "/" for p in HARNESS.glob("*/__init__.py")}
    assert packages <= named, f"packages the doc does not describe: {sorted(packages - named)}"


def test_no_module_is_over_500_lines_but_the_bundled_runner():
    long = {str(p.relative_to(REPO)): n for p in SOURCES
            if (n := len(p.read_text().splitlines())) > 500 and "bundled_runner" not in p.parts}  # fmt: skip
    assert not long, long
