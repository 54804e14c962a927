"""Charts are pygal SVG put inline: no script, no inline style (the CSP allows neither), their
CSS served from CT's own static folder."""

from __future__ import annotations

from pathlib import Path

from control_tower.dashboards.schemas import SeriesData
from control_tower.dashboards.spec import load_spec
from control_tower.web.charts import chart, stylesheet

STATIC = Path(__file__).resolve().parents[2] / "src/control_tower/web/static"


def test_the_committed_chart_css_is_pygals_for_cts_style() -> None:
    assert (STATIC / "charts.css").read_text() == stylesheet(), (
        "regenerate src/control_tower/web/static/charts.css from "
        "control_tower.web.charts.stylesheet()"
    )
    assert ".pygal-chart .color-0" in stylesheet()


def test_every_chart_panel_draws_without_script_or_inline_style() -> None:
    for _dashboard, panel in load_spec().panels():
        if panel.kind not in ("bar", "time_series"):
            continue
        data = SeriesData(["01-01", "01-02"], [("a", [1.0, None]), ("b <x>", [2.0, 3.0])])
        svg = str(chart(panel, data))
        assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
        for forbidden in ("<script", "<style", " style=", "<!--", "<?xml"):
            assert forbidden not in svg, (panel.id, forbidden)
        assert f"<title>{panel.title}</title>" in svg.replace("&amp;", "&")
        assert "b &lt;x&gt;" in svg  # series names are escaped
