"""What a `benchmark_model` log says about its delegates: `Replacing N out of M node(s) with
delegate (X) node, yielding K partitions for subgraph S.` in every form the interpreter has
printed, the tool's "explicitly applied" lines, unsupported and failed delegates. Each delegate
keeps its own share, so that with two delegates applied one after the other (GPU, then XNNPACK on
what is left) each one's nodes and fallback stay apart (`Delegation.by_delegate`)."""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType

from harness.store.records import DelegateShare, Delegation

# Every form the interpreter has printed: with and without "out of M" (older builds), without
# the partitions clause (LiteRT accelerators), with or without the subgraph (newer releases).
_REPLACING = re.compile(
    r"^Replacing (?P<nodes>\d+)(?: out of (?P<total>\d+))? node\(s\) with delegate \((?P<kernel>[^)]+)\) "
    r"node(?:, yielding (?P<partitions>\d+) partitions?)?"
    r"(?: for (?:subgraph (?P<subgraph>\d+)|(?P<whole>the whole graph)))?\.?$"
)
_EXPLICIT_FULL = re.compile(
    r"^Explicitly applied (?P<name>.+?) delegate, and the model graph will be completely executed"
)
_EXPLICIT_PARTIAL = re.compile(
    r"^Explicitly applied (?P<name>.+?) delegate, and the model graph will be partially executed "
    r"by the delegate w/ (?P<kernels>\d+) delegate kernels"
)
_EXPLICIT_NONE = re.compile(
    r"^Though (?P<name>.+?) delegate is explicitly applied, the model graph will not be executed"
)
_UNSUPPORTED = re.compile(r"^(?P<name>\S+) acceleration is unsupported on this platform")
_APPLY_FAILED = re.compile(r"^Failed to apply (?P<name>.+?) delegate")
_CREATED = re.compile(
    r"^(?:Created TensorFlow Lite (?P<xnnpack>XNNPACK) delegate for CPU|"
    r"Created TensorFlow Lite delegate for (?P<other>\w+)|(?P<provider>\w+) delegate created)\."
)

KERNEL_TO_DELEGATE = {
    "TfLiteXNNPackDelegate": "XNNPACK",
    "TfLiteGpuDelegate": "GPU",
    "TfLiteGpuDelegateV2": "GPU",
    "TfLiteNnapiDelegate": "NNAPI",
    "TfLiteHexagonDelegate": "Hexagon",
    "TfLiteCoreMlDelegate": "CoreML",
    "TfLiteMetalDelegate": "GPU",
}


@dataclasses.dataclass
class _DelegateSeen:
    """What the log says about one delegate."""

    # subgraph -> (nodes replaced, nodes of the subgraph or None, partitions or None)
    replacing: dict[str, tuple[int, int | None, int | None]] = dataclasses.field(default_factory=dict)
    outcome: str | None = None  # full | partial | none | unsupported | failed
    kernels: int | None = None  # "w/ N delegate kernels"
    created: bool = False

    def share(self) -> DelegateShare:
        counts = list(self.replacing.values())
        nodes = _sum_or_none([c[0] for c in counts])
        total = _sum_or_none([c[1] for c in counts])
        partitions = _sum_or_none([c[2] for c in counts]) if counts else self.kernels
        if self.outcome in ("none", "unsupported"):
            fallback, fully = True, False
        elif self.outcome in ("full", "partial"):
            fallback, fully = False, self.outcome == "full"
        elif counts:
            fallback, fully = False, (nodes == total if total is not None else None)
        else:
            fallback = fully = None
        return DelegateShare(nodes, total, partitions, fallback, fully, self.outcome)


# Which delegate the top-level fields describe, most telling first: the one the tool says it
# applied explicitly, one that failed to apply, one unsupported here, one that took nodes, one
# that was created (so applied) though the log says nothing about its nodes.
_MAIN_DELEGATE_RULES = (
    lambda seen: seen.outcome in ("full", "partial", "none"),
    lambda seen: seen.outcome == "failed",
    lambda seen: seen.outcome == "unsupported",
    lambda seen: bool(seen.replacing),
    lambda seen: seen.created,
)


@dataclasses.dataclass
class DelegationLines:
    """Reads the delegation lines of one run, message by message (prefixes already stripped)."""

    delegates: dict[str, _DelegateSeen] = dataclasses.field(default_factory=dict)  # by first mention

    def feed(self, message: str) -> bool:
        """True when the line was a delegation line and nothing else needs to read it."""
        if match := _REPLACING.match(message):
            self._replacing(match)
        elif match := _EXPLICIT_PARTIAL.match(message):
            self._explicitly_applied(match["name"], "partial", int(match["kernels"]))
        elif match := _EXPLICIT_FULL.match(message):
            self._explicitly_applied(match["name"], "full", 1)
        elif match := _EXPLICIT_NONE.match(message):
            self._explicitly_applied(match["name"], "none", 0)
        elif match := _UNSUPPORTED.match(message):
            seen = self._seen(match["name"])
            seen.outcome, seen.kernels = seen.outcome or "unsupported", 0
        elif match := _APPLY_FAILED.match(message):
            self._seen(match["name"]).outcome = "failed"
            return False  # also an error line
        elif match := _CREATED.match(message):
            self._seen(match["xnnpack"] or match["other"] or match["provider"]).created = True
        else:
            return False
        return True

    def result(self) -> Delegation:
        by_delegate = MappingProxyType({name: seen.share() for name, seen in self.delegates.items()})
        for rule in _MAIN_DELEGATE_RULES:
            main = next((name for name, seen in self.delegates.items() if rule(seen)), None)
            if main is not None:
                share = by_delegate[main]
                return Delegation(main, share.nodes_delegated, share.nodes_total, share.partitions,
                                  share.fallback_to_cpu, share.fully_delegated, by_delegate)
        return Delegation(by_delegate=by_delegate)

    def _seen(self, name: str) -> _DelegateSeen:
        return self.delegates.setdefault(name, _DelegateSeen())

    def _replacing(self, match: re.Match) -> None:
        seen = self._seen(KERNEL_TO_DELEGATE.get(match["kernel"], match["kernel"]))
        # Builds that do not name the subgraph print one line per delegated subgraph: keep each.
        subgraph = match["subgraph"] or ("0" if match["whole"] else f"line {len(seen.replacing) + 1}")
        seen.replacing[subgraph] = (int(match["nodes"]), _optional_int(match["total"]),
                                    _optional_int(match["partitions"]))

    def _explicitly_applied(self, name: str, outcome: str, kernels: int) -> None:
        seen = self._seen(name)
        seen.outcome, seen.kernels = outcome, kernels


def _optional_int(text: str | None) -> int | None:
    return int(text) if text is not None else None


def _sum_or_none(values: list[int | None]) -> int | None:
    return sum(values) if values and None not in values else None
