"""One quality figure per level, in one shape whatever the model does (convert.json `quality`):

  {"metric": "top1_accuracy" | "top1_agreement" | "snr_db" | "note_accuracy",
   "value": float, "unit": "fraction" | "dB", "higher_is_better": true,
   "against": "labels" | "fp32 outputs" | "ground truth pitch", "n_samples": int}

The task says which: `snr` (forced SNR against the reference's outputs), `auto` (any model: top-1 accuracy against y_eval when there are labels and
a class output, else top-1 agreement with the reference's outputs for a class output, else the
signal-to-noise ratio of all outputs against the reference's), or a zoo model's own task such
as `{"kind": "pitch", "output": 1, "lowest_midi": 21}` (basic-pitch's note posteriorgram scored
against the pitch the test tones were synthesized at). numpy only.
"""

from __future__ import annotations

import numpy as np

AUTO = {"kind": "auto"}
MAX_SNR_DB = 200.0  # identical outputs (the reference against itself) report this, not infinity
PITCH_EDGE_FRAMES = 8  # frames at each end of a clip, where a tone starts or stops, are not scored
_TINY = 1e-30


def measure(outputs: list[np.ndarray], reference: list[np.ndarray] | None, labels: np.ndarray | None,
            task: dict, reference_level: str = "fp32") -> dict | None:  # fmt: skip
    """The quality figure of one level, or None when nothing can be measured."""
    against = f"{reference_level} outputs"
    if task["kind"] == "pitch":
        return note_accuracy(outputs[task["output"]], labels, task)
    if task["kind"] == "snr":
        return None if reference is None else figure("snr_db", snr_db(outputs, reference), "dB", against, len(outputs[0]))
    classes = outputs[0].shape[1] >= 2
    if labels is not None and classes:
        predicted = outputs[0].argmax(axis=1)
        return figure("top1_accuracy", float(np.mean(predicted == labels)), "fraction", "labels", len(labels))
    if reference is None:
        return None
    if classes:
        agreement = float(np.mean(outputs[0].argmax(axis=1) == reference[0].argmax(axis=1)))
        return figure("top1_agreement", agreement, "fraction", against, len(outputs[0]))
    return figure("snr_db", snr_db(outputs, reference), "dB", against, len(outputs[0]))


def figure(metric: str, value: float, unit: str, against: str, n_samples: int) -> dict:
    return {
        "metric": metric,
        "value": round(value, 6),
        "unit": unit,
        "higher_is_better": True,
        "against": against,
        "n_samples": int(n_samples),
    }


def snr_db(outputs: list[np.ndarray], reference: list[np.ndarray]) -> float:
    """10 log10(reference power / error power) over every output value."""
    ours = np.concatenate(outputs, axis=1).astype(np.float64)
    theirs = np.concatenate(reference, axis=1).astype(np.float64)
    error = float(np.sum((ours - theirs) ** 2))
    if error <= _TINY:
        return MAX_SNR_DB
    return min(MAX_SNR_DB, 10 * np.log10(max(float(np.sum(theirs**2)), _TINY) / error))


def note_accuracy(notes: np.ndarray, midi: np.ndarray | None, task: dict) -> dict | None:
    """Share of frames whose strongest note bin is the synthesized tone's pitch."""
    if midi is None:
        return None
    bins = task.get("bins", 88)
    frames = notes.reshape(len(notes), -1, bins)[:, PITCH_EDGE_FRAMES:-PITCH_EDGE_FRAMES]
    expected = (np.asarray(midi) - task["lowest_midi"])[:, None]
    hits = frames.argmax(axis=2) == expected
    return figure("note_accuracy", float(np.mean(hits)), "fraction", "ground truth pitch", len(notes))
