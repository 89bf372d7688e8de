"""Report plots (matplotlib, Agg, no global pyplot state): latency, quality trade-offs with the
Pareto front, energy and memory, per model.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies);
series also differ by hatch or marker, so the plots survive greyscale printing too. Figures are
sized to stay legible when a README shows them about 700 px wide.
"""

from __future__ import annotations

import io

from harness.report.page import Plot
from harness.units import Scale, energy_scale, latency_scale, size_scale
from harness.report.tables import MEMORY_SCALE, QUALITY_NAMES, QualityColumn, ordered, plain, setup_rows, setups_in_order

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
FIGSIZE_IN = (7.5, 4.2)
DPI = 144
FONT_PT = 10
FLAG_MARK = "*"
# Above this max/min ratio a linear axis squashes the small values into the baseline.
LOG_SCALE_SPAN = 10.0


def _log_axis(ax, which: str) -> None:
    """Log scale with plain-number ticks at 1-2-5 steps: 20, 50, 100 read faster than 10^2."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _wants_log(values) -> bool:
    positive = [v for v in values if v is not None and v > 0]
    return len(positive) > 1 and max(positive) / min(positive) > LOG_SCALE_SPAN


def _style(index: int) -> dict:
    return {
        "color": OKABE_ITO[index % len(OKABE_ITO)],
        "hatch": HATCHES[(index // len(OKABE_ITO)) % len(HATCHES)],
        "marker": MARKERS[index % len(MARKERS)],
    }


def _figure(ncols: int = 1):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(FIGSIZE_IN[0], FIGSIZE_IN[1]), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.tick_params(labelsize=FONT_PT - 1)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    return figure, axes


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # metadata None: no timestamp, so the same results give the same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _series_label(row) -> str:
    flags = list(row["device_flags"])
    return row["series_label"] + (f" ({', '.join(flags)})" if flags else "")


def _cell_flagged(row) -> bool:
    return any(f not in row["device_flags"] for f in row["flags"])


def _status_marker(ax, x: float, row) -> None:
    """Where a bar is missing, say why (failed, skipped, ...) instead of leaving a silent gap."""
    text = f" {row['status'] if row['status'] != 'ok' else 'n/a'}"
    ax.text(x, 0, text, rotation=90, ha="center", va="bottom", fontsize=FONT_PT - 2, color="#555555")


def _error_span(row, value: float, scale: Scale, errors) -> list | None:
    """matplotlib's asymmetric yerr from two columns (e.g. p5 and p95) around the bar's value."""
    if not errors:
        return None
    low, high = (scale.value(plain(row[c])) for c in errors)
    if low is None or high is None:
        return None
    return [[max(0.0, value - low)], [max(0.0, high - value)]]


def _bar_plot(
    model_frame, column: str, scale: Scale, ylabel: str, title: str, *, errors=None, invalid=None, method=None
):
    """Grouped bars: levels on x, one bar per device/setting; missing values show their status.
    errors: two columns for error bars; invalid(row): draw the bar pale and hatched;
    method(row): text appended to the series' legend entry (how the numbers were taken)."""
    levels = list(ordered(model_frame.drop_duplicates("level"), "level_index")["level"])
    setups = setups_in_order(model_frame)
    figure, (ax,) = _figure()
    width = 0.8 / max(1, len(setups))
    flagged_any = invalid_any = False
    drawn = []
    for index, setup in enumerate(setups):
        rows, style, labelled = setup_rows(model_frame, setup), _style(index), False
        for level_index, level in enumerate(levels):
            match = rows[rows["level"] == level]
            if match.empty:
                continue
            row, x = match.iloc[0], level_index - 0.4 + width * (index + 0.5)
            value = scale.value(plain(row[column]))
            if value is None:
                _status_marker(ax, x, row)
                continue
            is_invalid = bool(invalid and invalid(row))
            invalid_any |= is_invalid
            drawn.append(value)
            yerr = _error_span(row, value, scale, errors)
            label = None if labelled else _series_label(row) + (f", {method(row)}" if method else "")
            ax.bar(
                x, value, width, yerr=yerr, capsize=3, color=style["color"], edgecolor="black", linewidth=0.5,
                hatch="///" if is_invalid else style["hatch"], alpha=0.45 if is_invalid else 1.0, label=label,
                error_kw={"elinewidth": 1},
            )  # fmt: skip
            labelled = True
            if _cell_flagged(row):
                flagged_any = True
                ax.text(
                    x, value + (yerr[1][0] if yerr else 0), FLAG_MARK, ha="center", va="bottom", fontsize=FONT_PT + 2
                )
    if _wants_log(drawn):
        _log_axis(ax, "y")
        ylabel += ", log scale"
    tilt = len(levels) > 5
    ax.set_xticks(range(len(levels)), levels, rotation=20 if tilt else 0, ha="right" if tilt else "center")
    ax.set_xlabel("compression level", fontsize=FONT_PT)
    ax.set_ylabel(ylabel, fontsize=FONT_PT)
    notes = []
    if flagged_any:
        notes.append(f"{FLAG_MARK} flagged (see table)")
    if invalid_any:
        notes.append("hatched, pale: invalid measurement")
    ax.set_title(title + (f"  [{'; '.join(notes)}]" if notes else ""), fontsize=FONT_PT + 1)
    _legend_if_drawn(ax, FONT_PT - 1)
    return figure


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both axes (lower x and higher y are better)."""
    front, best_y = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best_y:
            front.append((x, y))
            best_y = y
    return front


def _trade_off_axes(ax, groups, xlabel: str, ylabel: str) -> None:
    """groups: [(label, style, [(x, y, level), ...])]; each group gets its own front."""
    for label, style, points in groups:
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ax.scatter(
            xs,
            ys,
            color=style["color"],
            marker=style["marker"],
            s=36,
            label=label,
            zorder=3,
            edgecolors="black",
            linewidths=0.4,
        )
        front = pareto_front([(x, y) for x, y, _ in points])
        ax.step(
            [p[0] for p in front],
            [p[1] for p in front],
            where="post",
            color=style["color"],
            linewidth=1.2,
            linestyle="--",
            zorder=2,
        )
        ax.scatter(
            [p[0] for p in front],
            [p[1] for p in front],
            s=140,
            facecolors="none",
            edgecolors=style["color"],
            linewidths=1.4,
            zorder=4,
        )
    all_points = [p for _, _, points in groups for p in points]
    if _wants_log([p[0] for p in all_points]):
        _log_axis(ax, "x")
        xlabel += ", log scale"
    _label_points(ax, all_points)
    ax.set_xlabel(xlabel, fontsize=FONT_PT)
    ax.set_ylabel(ylabel, fontsize=FONT_PT)


# Candidate label offsets (points from the marker), tried in order until one does not collide.
_LABEL_OFFSETS_PT = [(4, 4), (4, -11), (-4, 4), (-4, -11), (4, 15), (4, -22), (-4, 15), (-4, -22), (4, 26), (4, -33)]


def _label_points(ax, points) -> None:
    """Name every point with its level, levels at the same spot in one label, without overlaps.

    Placement is greedy in display space: each label takes the first candidate offset whose
    box does not overlap a label already placed (estimated from the text length)."""
    ax.autoscale_view()
    to_display = ax.transData.transform
    points_per_px = 72.0 / ax.figure.dpi
    merged: dict[tuple[int, int], list] = {}
    for x, y, level in sorted(points):
        px, py = to_display((x, y))
        merged.setdefault((round(px / 3), round(py / 3)), [x, y, []])[2].append(level)
    placed: list[tuple[float, float, float, float]] = []
    char_w, line_h = (FONT_PT - 3) * 0.6, (FONT_PT - 3) * 1.25
    for x, y, levels in merged.values():
        text = ", ".join(levels)
        px, py = to_display((x, y))
        width, height = len(text) * char_w, line_h
        for dx, dy in _LABEL_OFFSETS_PT:
            left = px + dx / points_per_px - (width / points_per_px if dx < 0 else 0)
            bottom = py + dy / points_per_px
            box = (left, bottom, left + width / points_per_px, bottom + height / points_per_px)
            if not any(_overlap(box, other) for other in placed):
                break
        placed.append(box)
        ax.annotate(
            text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=FONT_PT - 3,
            ha="right" if dx < 0 else "left",
        )  # fmt: skip


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _trade_off_plot(model_frame, model: str):
    quality = QualityColumn.of(model_frame["quality_kind"], model_frame["quality_unit"])
    if quality.kind is None or model_frame["quality"].isna().all():
        return None
    lat = latency_scale(model_frame["latency_median_us"].tolist())
    size = size_scale(model_frame["size_bytes"].tolist())
    figure, (left, right) = _figure(2)
    groups = []
    for index, setup in enumerate(setups_in_order(model_frame)):
        rows = setup_rows(model_frame, setup)
        points = [
            (lat.value(plain(r["latency_median_us"])), quality.shown(r["quality"]), r["level"])
            for _, r in rows.iterrows()
            if r["status"] == "ok" and plain(r["latency_median_us"]) is not None and plain(r["quality"]) is not None
        ]
        groups.append((_series_label(rows.iloc[0]), _style(index), points))
    ylabel = quality.header
    _trade_off_axes(left, groups, f"median latency ({lat.unit})", ylabel)
    per_level = model_frame.drop_duplicates("level")
    size_points = [
        (size.value(plain(r["size_bytes"])), quality.shown(r["quality"]), r["level"])
        for _, r in per_level.iterrows()
        if plain(r["size_bytes"]) is not None and plain(r["quality"]) is not None
    ]
    _trade_off_axes(
        right, [("levels", _style(len(OKABE_ITO) - 1), size_points)], f"model file size ({size.unit})", ylabel
    )
    _legend_if_drawn(left, FONT_PT - 2)
    figure.suptitle(f"{model}: {QUALITY_NAMES.get(quality.kind, quality.kind)} vs latency and vs size (circled, dashed: Pareto front)", fontsize=FONT_PT + 1)
    return figure


def model_plots(model_frame, key_prefix: str) -> list[Plot]:
    """The plots of one model. Names are data, not mathtext: a '$' in a model or device name is
    drawn as it is (matplotlib would otherwise parse '$(...)' as a formula and raise)."""
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False}):
        return _model_plots(model_frame, key_prefix)


def _model_plots(model_frame, key_prefix: str) -> list[Plot]:
    model = str(model_frame["model"].iloc[0])
    plots = []
    lat = latency_scale(model_frame["latency_p95_us"].tolist() + model_frame["latency_median_us"].tolist())
    plots.append(
        (
            "latency",
            f"{model}: median latency per level",
            f"Median latency per level and device for {model}, error bars from p5 to p95",
            _bar_plot(
                model_frame,
                "latency_median_us",
                lat,
                f"median latency ({lat.unit}), bars p5–p95",
                f"{model}: latency per level",
                errors=("latency_p5_us", "latency_p95_us"),
            ),
        )
    )
    trade_off = _trade_off_plot(model_frame, model)
    if trade_off is not None:
        plots.append(
            (
                "tradeoff",
                f"{model}: quality vs latency and size",
                f"Quality against latency and file size for {model}, Pareto front circled",
                trade_off,
            )
        )
    if model_frame["energy_mj_per_inference"].notna().any():
        energy = energy_scale(model_frame["energy_mj_per_inference"].tolist())
        plots.append(
            (
                "energy",
                f"{model}: energy per inference",
                f"Energy per inference per level and device for {model}",
                _bar_plot(
                    model_frame,
                    "energy_mj_per_inference",
                    energy,
                    f"energy per inference ({energy.unit})",
                    f"{model}: energy per inference",
                    invalid=lambda r: r["energy_validity"] != "valid",
                    method=lambda r: r["energy_method"],
                ),
            )
        )
    if model_frame["memory_peak_mb"].notna().any():
        plots.append(
            (
                "memory",
                f"{model}: peak memory",
                f"Peak memory per level and device for {model}",
                _bar_plot(
                    model_frame,
                    "memory_peak_mb",
                    MEMORY_SCALE,
                    "peak memory (MB)",
                    f"{model}: peak memory per level",
                ),
            )
        )
    return [Plot(f"{key_prefix}-{name}", title, alt, _png(figure)) for name, title, alt, figure in plots]


def _legend_if_drawn(ax, font_pt: float) -> None:
    """A legend of what the axes show; none when nothing was drawn (a model whose cells all
    failed), where matplotlib would warn about an empty one."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=font_pt, loc="best")
