"""The HTML text itself: self-contained, and inert whatever the dataset holds (pure checks;
the Chromium test proves the same in a real browser)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from clearft.report import build_report
from clearft.report.render import embed_json, script_hash

from .test_report_fixtures import XSS, run_dir, scored_record, write_jsonl, write_meta

DATA_BLOCK = re.compile(r'<script type="application/json" id="clearft-data">(.*?)</script>', re.S)
SCRIPT_BLOCK = re.compile(r"<script>(.*?)</script>", re.S)
# Every element the template and the SVG charts use; nothing else may appear as markup.
OUR_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p",
            "main", "section", "div", "svg", "line", "text", "rect", "circle", "input", "label",
            "select", "option", "button", "span", "table", "thead", "tbody", "tr", "th", "td",
            "noscript", "ul", "li", "script"}


class ElementCollector(HTMLParser):
    """What a browser's tokenizer would see as elements and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        self.scripts += tag == "script"


def hostile_records(n: int = 12) -> list[dict[str, Any]]:
    """Rows with a hostile string in every field the report shows."""
    records = []
    for i in range(n):
        bad = XSS[i % len(XSS)]
        r = scored_record(i)
        r.update(id=f"{i}-{bad}", prompt=bad, response=bad, clearft_method="bsdetector",
                 clearft_error=bad if i == 5 else None)
        r[bad] = bad  # a user column whose name and value are hostile
        r["clearft_evidence"]["samples"][0].update(text=bad, answer=bad)
        r["clearft_evidence"]["reflections"][0].update(explanation=bad, verdict=bad, raw=bad)
        r["clearft_evidence"][bad] = bad
        r["clearft_original_response"] = bad
        r["clearft_correction"] = {"candidate": bad, "replaced": True, "judge_confidence": 0.9,
                                   "verdicts": [bad], "explanation": bad}
        if i % 2:  # the evidence judge's audit: its reason, label, views and errors are data too
            r["clearft_correction"] = {
                "judge": "evidence", "candidate": bad, "replaced": i % 4 == 1, "reason": bad,
                "label": bad, "confidence": 0.9, "errors": [bad],
                "views": {bad: {"label": bad, "prob": 0.8}, "model": {"label": "x", "prob": 1.0}}}
        r[f"confidence__{bad}"] = i / n  # a method whose name is hostile
        records.append(r)
    return records


def hostile_report(tmp_path: Path) -> tuple[str, list[dict[str, Any]]]:
    records = hostile_records()
    # The file name, title and settings shown in the header are hostile too.
    path = write_jsonl(tmp_path / "<b onmouseover=alert(1)>.jsonl", records)
    write_meta(path, **{XSS[0]: XSS[2], "backend": {"model_id": XSS[3]}, "method": XSS[4]})
    result = build_report([path], tmp_path / "report.html", title=XSS[1])
    return result.path.read_text(encoding="utf-8"), records


def split_page(html: str) -> tuple[str, str, str]:
    """(the JSON data block, our script, the rest of the page)."""
    data = DATA_BLOCK.search(html)
    assert data is not None
    rest = html[: data.start()] + html[data.end():]
    scripts = SCRIPT_BLOCK.findall(rest)
    assert len(scripts) == 1
    return data.group(1), scripts[0], SCRIPT_BLOCK.sub("", rest)


def test_embed_json_cannot_close_its_script_element() -> None:
    value = {"a": "</script><script>x()</script>", "b": "<!--", "c": "a & b > c", "d": "\u2028"}
    text = embed_json(value)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == value


def test_embed_json_rejects_nan() -> None:
    with pytest.raises(ValueError):
        embed_json({"x": float("nan")})


def test_xss_corpus_stays_text(tmp_path: Path) -> None:
    html, records = hostile_report(tmp_path)
    data_text, script, rest = split_page(html)
    # 1. The data block holds no markup at all, and gives every hostile string back intact.
    assert "<" not in data_text and ">" not in data_text
    data = json.loads(data_text)
    shown = {r["id"]: r for r in data["rows"]}
    for r in records:
        row = shown[r["id"]]
        assert row["prompt"] == r["prompt"] and row["target"] == r["response"]
        assert row["samples"][0]["text"] == r["clearft_evidence"]["samples"][0]["text"]
        assert row["correction"]["candidate"] == r["clearft_correction"]["candidate"]
        if r["clearft_correction"].get("judge") == "evidence":
            bad = r["prompt"]
            assert row["correction"]["reason"] == row["correction"]["label"] == bad
            assert row["correction"]["views"][0] == {"name": bad, "label": bad, "prob": 0.8, "agrees": True}
            assert row["correction"]["errors"] == [bad]
    # 2. The only script is ours, byte for byte, and the CSP allows exactly it.
    assert script == resources.files("clearft.report").joinpath("report.js").read_text(encoding="utf-8")
    assert f"script-src '{script_hash(script)}'" in html
    # 3. Outside the scripts, only our own elements and no event handlers or URLs.
    parser = ElementCollector()
    parser.feed(html)
    assert parser.tags <= OUR_TAGS, parser.tags - OUR_TAGS
    assert parser.scripts == 2
    assert not [a for a in parser.attributes if a.startswith("on")]
    assert not parser.attributes & {"href", "src", "action", "formaction", "xlink:href", "srcdoc"}
    for bad in XSS:
        if "<" in bad or '"' in bad:
            assert bad not in rest
    # 4. Hostile text that looks like a placeholder was not expanded.
    assert html.count("// clearft report: a paged") == 1
    assert html.count("id=\"clearft-data\"") == 1


def test_report_is_self_contained(tmp_path: Path) -> None:
    html = build_report([run_dir(tmp_path)], tmp_path / "r.html").path.read_text(encoding="utf-8")
    # Nothing to fetch: no external scripts, styles, images or fonts; the CSP forbids any anyway.
    assert not re.search(r"\s(src|href)\s*=", html)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html
    # The only URL is the SVG namespace name, which browsers never fetch.
    assert set(re.findall(r"https?://[^\s\"'<]+", html)) == {"http://www.w3.org/2000/svg"}


def test_run_report_shows_accuracy_settings_and_agreement(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    html = build_report([d]).path.read_text(encoding="utf-8")
    assert (d / "report.html").is_file()
    _, _, rest = split_page(html)
    assert '<table class="grid" id="accuracy">' in rest
    assert "<th>filtered</th><td>0.620</td><td>150</td>" in rest
    assert "<th>model_id</th><td>SmolLM2-135M-Instruct</td>" in rest
    assert "<th>seed</th><td>11</td>" in rest
    assert '<p class="counts" id="identity">method: bsdetector · preset: medium · ' \
           'model: SmolLM2-135M-Instruct · seed: 11</p>' in rest
    assert 'class="threshold"' in rest  # the threshold line is drawn
    assert "agreement-section" not in rest  # one method: nothing to compare


def test_histogram_marks_bars_below_threshold(tmp_path: Path) -> None:
    records = [scored_record(i, confidence=v) for i, v in enumerate([0.02, 0.12, 0.52, 0.97])]
    path = write_jsonl(tmp_path / "s.jsonl", records)
    html = build_report([path], tmp_path / "r.html", threshold=0.5).path.read_text(encoding="utf-8")
    below = re.findall(r'<rect class="bar below"[^>]*><title>([^<]*)</title>', html)
    assert len(below) == 10  # bins 0.00-0.50 of 20
    assert "0.00-0.05: 1 rows" in below[0] and "0.10-0.15: 1 rows" in below[2]
