"""The plot of a sustained run: median and p90 latency per interval, and the device's
temperatures on a second axis, with the throttled intervals shaded."""

from __future__ import annotations

from harness.report.plots import FONT_PT, OKABE_ITO, _figure, _png
from harness.store.records import Sustained
from harness.units import latency_scale


def sustained_plot(sustained: Sustained) -> bytes:
    rows = sustained.intervals
    minutes = [(r.start_s + r.end_s) / 2 / 60 for r in rows]
    scale = latency_scale([r.p90_us or r.median_us for r in rows])
    figure, (ax,) = _figure()
    for values, label, colour, marker in (([r.median_us for r in rows], "median latency", OKABE_ITO[0], "o"),
                                          ([r.p90_us for r in rows], "p90 latency", OKABE_ITO[1], "s")):
        points = [(m, scale.value(v)) for m, v in zip(minutes, values) if v is not None]
        if points:
            ax.plot(*zip(*points), marker=marker, color=colour, label=label)
    ax.set_xlabel("time since the start (min)", fontsize=FONT_PT)
    ax.set_ylabel(f"latency ({scale.unit})", fontsize=FONT_PT)
    ax.set_ylim(bottom=0)
    if sustained.began_interval is not None:
        first = next(r for r in rows if r.index == sustained.began_interval)
        ax.axvspan(first.start_s / 60, rows[-1].end_s / 60, color="#999999", alpha=0.15, label="throttled")
    temperatures = ax.twinx()
    for values, label, colour in (([r.skin_temp_c for r in rows], "skin °C", OKABE_ITO[5]),
                                  ([r.cpu_temp_c for r in rows], "CPU °C", OKABE_ITO[2])):
        points = [(m, v) for m, v in zip(minutes, values) if v is not None]
        if points:
            temperatures.plot(*zip(*points), linestyle="--", color=colour, label=label)
    temperatures.set_ylabel("temperature (°C)", fontsize=FONT_PT)
    handles = ax.get_legend_handles_labels()
    more = temperatures.get_legend_handles_labels()
    if handles[0] or more[0]:
        ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=FONT_PT - 2, loc="lower right")
    return _png(figure)
