"""The server-side SVG chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"


def test_nice_ceiling():
    assert charts.nice_ceiling(0.37) == 0.5
    assert charts.nice_ceiling(1.2) == 2
    assert charts.nice_ceiling(2.2) == 2.5
    assert charts.nice_ceiling(0) == 1


def test_chart_is_valid_svg_with_gaps_and_text_alternative():
    series = [charts.Series("Accueil", [(0, 0.1), (900, 0.2), (5400, 0.3), (6300, 0.1)]),
              charts.Series("Base", [(0, 0.5)]),
              charts.Series("Vide", [])]
    svg = str(charts.line_chart(series, 0, 7200, title="Temps <de> réponse", desc="médiane 0,2 s",
                                x_ticks=[(3600, "01:00"), (99999, "hors champ")],
                                y_format=lambda v: f"{v:.1f} s", gap=1800, chart_id="c1"))
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "Temps <de> réponse"
    paths = root.findall(f"{SVG}path")
    assert len(paths) == 2
    # the hour without data between 900 s and 5400 s breaks the first line in two
    assert paths[0].get("d").count("M") == 2
    assert paths[1].get("stroke-dasharray") == "6 4"
    assert len(root.findall(f"{SVG}circle")) == 1  # the lone point of "Base"
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "01:00" in labels and "hors champ" not in labels and "0.5 s" in labels


def test_empty_chart_says_so():
    svg = str(charts.line_chart([charts.Series("A", [])], 0, 10, title="t", desc="d",
                                x_ticks=[], y_format=str, gap=1, empty_text="Aucune mesure"))
    assert "Aucune mesure" in svg
    legend = str(charts.legend([charts.Series("A <b>", [])]))
    assert "A &lt;b&gt;" in legend and 'aria-hidden="true"' in legend
