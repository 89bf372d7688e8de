"""The one quality figure per level (harness/convert/quality.py), on outputs whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from harness.convert import quality


def test_labels_give_top1_accuracy():
    outputs = [np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])]
    figure = quality.measure(outputs, outputs, np.array([0, 1, 1, 1]), quality.AUTO)
    assert figure == {"metric": "top1_accuracy", "value": 0.75, "unit": "fraction", "higher_is_better": True,
                      "against": "labels", "n_samples": 4}  # fmt: skip


def test_without_labels_a_class_output_is_compared_with_the_reference():
    reference = [np.array([[0.9, 0.1], [0.2, 0.8]])]
    ours = [np.array([[0.9, 0.1], [0.7, 0.3]])]
    figure = quality.measure(ours, reference, None, quality.AUTO, "as-is")
    assert (figure["metric"], figure["value"], figure["against"]) == ("top1_agreement", 0.5, "as-is outputs")


def test_other_outputs_get_their_signal_to_noise_ratio_against_the_reference():
    reference = [np.ones((2, 1)) * 10.0]
    ours = [reference[0] + 0.1]  # error power 0.01 per value against signal power 100: 40 dB
    figure = quality.measure(ours, reference, None, quality.AUTO)
    assert figure["metric"] == "snr_db" and figure["unit"] == "dB"
    assert figure["value"] == pytest.approx(40.0)
    assert quality.measure(reference, reference, None, {"kind": "snr"})["value"] == quality.MAX_SNR_DB
    assert quality.measure(ours, None, None, {"kind": "snr"}) is None


def test_pitch_is_scored_against_the_synthesized_note_away_from_the_clip_edges():
    frames, bins, lowest = 40, 88, 21
    notes = np.zeros((2, frames, bins))
    notes[0, :, 60 - lowest] = 1  # right all along
    notes[1, :, 62 - lowest] = 1  # wrong for the middle half of its frames
    notes[1, 10:20, 64 - lowest] = 2
    task = {"kind": "pitch", "output": 1, "lowest_midi": lowest}
    figure = quality.measure([np.zeros((2, 3)), notes.reshape(2, -1)], None, np.array([60, 62]), task)
    scored = frames - 2 * quality.PITCH_EDGE_FRAMES
    assert figure["metric"] == "note_accuracy" and figure["against"] == "ground truth pitch"
    assert figure["value"] == pytest.approx((scored + scored - 10) / (2 * scored))
