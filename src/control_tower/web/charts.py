"""Charts drawn on the server as SVG with pygal, put inline in the page: no script, no CDN.

pygal embeds a `<style>` and a `<script>` in each chart; CT's Content-Security-Policy
(`default-src 'self'`) allows neither inline, so an XML filter (`add_xml_filter`) removes them
(and the tooltip layer, which only a script would show) and the charts' CSS is served as
`/ui/static/charts.css` — pygal's own CSS for CT's style, scoped to `.pygal-chart`, generated
by `stylesheet()` and checked against the committed file by tests/web/test_charts.py.
"""

from __future__ import annotations

import functools
import html
import re
import sys
from typing import Any

from markupsafe import Markup

from control_tower.dashboards.schemas import SeriesData
from control_tower.dashboards.spec import Panel

PALETTE = ("#0969da", "#1a7f37", "#8250df", "#bf8700", "#cf222e", "#1b7c83", "#bf3989",
           "#6e7781", "#953800")  # fmt: skip
STYLE_OPTIONS: dict[str, Any] = {
    "background": "transparent",
    "plot_background": "#ffffff",
    "foreground": "#1f2328",
    "foreground_strong": "#1f2328",
    "foreground_subtle": "#59636e",
    "font_family": 'system-ui, -apple-system, "Segoe UI", sans-serif',
    "colors": PALETTE,
    "opacity": ".85",
    "opacity_hover": ".95",
    "title_font_size": 14,
    "legend_font_size": 12,
    "label_font_size": 11,
    "major_label_font_size": 11,
}


@functools.cache
def _pygal() -> Any:
    """pygal, imported when the first chart is drawn. Its import appends a legacy import hook
    (`PluginImportFixer`, for its map plugins, which CT does not use) to `sys.meta_path`; Python
    3.11 warns on every failed import that reaches it (an `ImportWarning`, an error under the
    test suite's warning filter), so it is taken out again."""
    import pygal
    import pygal.style

    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]
    return pygal


@functools.cache
def _style() -> Any:
    return _pygal().style.Style(**STYLE_OPTIONS)


_TIME_LABEL = re.compile(r"^(\d\d-\d\d|\d\d:00)$")


def _no_inline_code(root: Any) -> Any:
    """pygal's XML filter: drop comments, `<style>`, `<script>` and the tooltip layer."""
    for parent in list(root.iter()):
        for child in list(parent):
            tag = child.tag if isinstance(child.tag, str) else None
            if (
                tag is None
                or tag.rsplit("}", 1)[-1] in ("style", "script")
                or child.get("class") == "plot tooltip-overlay"
            ):
                parent.remove(child)
    return root


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "style": _style(),
        "disable_xml_declaration": True,
        "js": [],
        "css": [],
        "no_prefix": True,
        "width": 900,
        "height": 320,
        "legend_at_bottom": True,
        "truncate_legend": 40,
        "margin": 12,
        **extra,
    }


def _formatter(unit: str) -> Any:
    if unit == "percent":
        return lambda v: "" if v is None else f"{v:.0f} %"
    if unit == "seconds":
        return lambda v: "" if v is None else f"{v:.1f} s"
    return lambda v: "" if v is None else f"{v:,.0f}"


def chart(panel: Panel, data: SeriesData) -> Markup:
    """The panel's chart as inline SVG markup."""
    timeline = all(_TIME_LABEL.match(x) for x in data.x_labels)
    pygal = _pygal()
    full_width = panel.kind == "time_series"  # the page gives bars half its width
    options = _config(
        value_formatter=_formatter(panel.unit),
        print_values=False,
        width=1000 if full_width else 560,
        show_legend=len(data.series) > 1,
        legend_at_bottom_columns=min(len(data.series), 5),
        margin_bottom=28 if len(data.series) > 1 else 12,
    )
    if panel.kind == "time_series" and not panel.stacked:
        graph: Any = pygal.Line(**options, show_dots=len(data.x_labels) <= 31, fill=False)
    elif panel.stacked:
        graph = pygal.StackedBar(**options)
    elif timeline:
        graph = pygal.Bar(**options)
    else:
        height = max(160, 60 + 34 * max(1, len(data.x_labels)) * max(1, len(data.series)))
        graph = pygal.HorizontalBar(**{**options, "height": min(height, 520)})
    if timeline:
        every = max(1, len(data.x_labels) // 12)
        graph.x_labels = data.x_labels
        graph.x_labels_major = data.x_labels[::every]
        graph.show_minor_x_labels = False
        graph.x_label_rotation = 0 if len(data.x_labels) <= 12 else 30
    else:
        graph.x_labels = data.x_labels
    if panel.unit == "percent":
        graph.range = (0, 100)
    elif panel.unit == "count":
        ticks = _count_ticks(data, stacked=panel.stacked)
        if ticks:
            graph.y_labels = ticks  # whole numbers: a count has no 0.2
    for name, values in data.series:
        graph.add(name, values)
    graph.add_xml_filter(_no_inline_code)
    svg = graph.render(is_unicode=True).replace('id="" ', 'role="img" ', 1)
    title = f"<title>{html.escape(panel.title)}</title>"
    return Markup(svg.replace("<title>Pygal</title>", title, 1))  # pygal escapes its text


def _count_ticks(data: SeriesData, *, stacked: bool, most: int = 8) -> list[int]:
    """Whole-number ticks from 0 to the top of the chart (the stacked total when stacked)."""
    if stacked:
        tops = [sum(values[i] or 0 for _, values in data.series) for i in range(len(data.x_labels))]
    else:
        tops = [v or 0 for _, values in data.series for v in values]
    top = int(-(-max(tops, default=0) // 1))
    if top <= 0:
        return []
    step = max(1, -(-top // most))
    return list(range(0, top + step, step))


def stylesheet() -> str:
    """pygal's CSS for CT's style and PALETTE (every series colour), scoped to `.pygal-chart`."""
    pygal = _pygal()
    sample = pygal.Bar(style=_style(), js=[], disable_xml_declaration=True)
    for number in range(len(PALETTE)):
        sample.add(f"s{number}", [1])
    svg = sample.render(is_unicode=True)
    found = re.search(r"<style[^>]*>(.*?)</style>", svg, re.S)
    assert found is not None, "pygal put no style in its chart"
    css = re.sub(r"#chart-[0-9a-f-]+ ?", ".pygal-chart ", html.unescape(found.group(1)))
    return (
        "/* Generated by control_tower.web.charts.stylesheet() from pygal "
        f"{pygal.__version__}: do not edit. */\n{css.strip()}\n"
    )
