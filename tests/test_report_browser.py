"""The report in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`)
driven by Selenium, offline. Skips, saying why, where either is missing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clearft.report import build_report
from clearft.report.browser import chromium_paths, headless_chromium

from .test_report_fixtures import XSS, run_dir, scored_file, scored_record
from .test_report_render import hostile_report

pytest.importorskip("selenium", reason="selenium is not installed (pip install 'clearft[dev]')")
if chromium_paths() is None:
    pytest.skip("Chromium is not installed (apt-get install -y chromium chromium-driver)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with headless_chromium() as driver:
        yield driver


def open_report(driver: Any, path: Path) -> None:
    driver.get(path.resolve().as_uri())
    # On a loaded machine a 100 MB page can still be parsing when get() returns; wait for it.
    _wait(driver, "return document.body && document.body.getAttribute('data-ready') === 'true'", 120)


def table_column(driver: Any, key: str) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#rows tr.row td.c-' + arguments[0]))"
        ".map(function (td) { return td.textContent; });", key)


def click_header(driver: Any, key: str) -> None:
    driver.find_element("css selector", f'#rows-head th[data-key="{key}"] button').click()


def as_numbers(cells: list[str]) -> list[float]:
    return [float(c) for c in cells if c != "–"]


def test_table_sorts_expands_pages_and_searches(browser: Any, tmp_path: Path) -> None:
    path = scored_file(tmp_path, n=60)
    report = build_report([path], tmp_path / "r.html", page_size=25).path
    open_report(browser, report)
    # Lowest confidence first; the row that failed to score comes last, not first.
    first_page = as_numbers(table_column(browser, "confidence"))
    assert len(first_page) == 25 and first_page == sorted(first_page)
    assert first_page[0] == 0.0
    th = browser.find_element("css selector", '#rows-head th[data-key="confidence"]')
    assert th.get_attribute("aria-sort") == "ascending"
    click_header(browser, "confidence")
    descending = as_numbers(table_column(browser, "confidence"))
    assert descending == sorted(descending, reverse=True) and descending[0] == 0.99
    click_header(browser, "n")
    assert table_column(browser, "n")[:3] == ["1", "2", "3"]
    # Expand row 2: its prompt, sampled answers and reflections appear, as text.
    second_row = '#rows tr.row[data-index="1"]'
    browser.find_element("css selector", second_row).click()  # re-renders the page's rows
    detail = browser.find_element("css selector", "#rows tr.detail-row")
    assert browser.find_element("css selector", second_row).get_attribute("aria-expanded") == "true"
    assert "Classify sentence 1: profits rose." in detail.text
    assert "explanation: sample 1.2, answer: positive" in detail.text
    assert "reflection 2 on row 1" in detail.text
    assert "A 0.600, B 0.300, C 0.100" in detail.text
    browser.find_element("css selector", second_row).click()
    assert browser.find_elements("css selector", "#rows tr.detail-row") == []
    # Paging: 60 rows -> 3 pages; the last has 10.
    browser.find_element("id", "next").click()
    browser.find_element("id", "next").click()
    assert len(browser.find_elements("css selector", "#rows tr.row")) == 10
    assert browser.find_element("id", "next").get_attribute("disabled") == "true"
    # Search narrows the rows (after its short debounce).
    browser.find_element("id", "search").send_keys("row-0042")
    browser.implicitly_wait(0)
    _wait(browser, "return document.querySelectorAll('#rows tr.row').length === 1")
    assert table_column(browser, "id") == ["row-0042"]


def test_error_row_sorts_last_and_shows_its_error(browser: Any, tmp_path: Path) -> None:
    path = scored_file(tmp_path, n=10)
    open_report(browser, build_report([path], tmp_path / "r.html").path)
    ids = table_column(browser, "id")
    assert ids[-1] == "row-0003"
    browser.find_element("css selector", '#rows tr.row[data-index="3"]').click()
    assert "backend timed out" in browser.find_element("css selector", "tr.detail-row").text


def test_corrected_rows_show_original_and_replacement(browser: Any, tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    open_report(browser, build_report([d]).path)
    statuses = table_column(browser, "status")
    index = statuses.index("corrected")
    browser.find_elements("css selector", "#rows tr.row")[index].click()
    text = browser.find_element("css selector", "tr.detail-row").text
    assert "REPLACEMENT (USED)" in text.upper() and "ORIGINAL" in text.upper()
    assert "judge on row" in text and "0.910" in text
    assert "why dropped below threshold" in text  # from dropped.jsonl, beside scored.jsonl's row
    assert "reason judge_prefers_candidate" in text  # judge details beyond the fixed fields
    page = browser.find_element("tag name", "body").text
    assert "Accuracy before and after" in page and "SmolLM2-135M-Instruct" in page


def test_evidence_judged_rows_show_their_views_confidence_and_reason(browser: Any, tmp_path: Path) -> None:
    from .test_report_fixtures import evidence_corrected_record, write_jsonl

    path = write_jsonl(tmp_path / "corrected.jsonl", [evidence_corrected_record(0, replaced=True),
                                                      evidence_corrected_record(1, replaced=False)])
    open_report(browser, build_report([path], tmp_path / "r.html").path)
    click_header(browser, "n")
    browser.find_element("css selector", '#rows tr.row[data-index="0"]').click()
    text = browser.find_element("css selector", "tr.detail-row").text
    assert "EVIDENCE JUDGE" in text.upper() and "REPLACEMENT (USED)" in text.upper()
    assert "reason replaced" in text and "combined confidence (mean of the views) 0.860" in text
    assert "best-supported label positive" in text
    assert "VIEWS (2 OF 2 AGREE)" in text.upper()
    assert "classifier positive 0.720 yes" in text and "model positive 1.000 yes" in text
    browser.find_element("css selector", '#rows tr.row[data-index="0"]').click()
    browser.find_element("css selector", '#rows tr.row[data-index="1"]').click()
    text = browser.find_element("css selector", "tr.detail-row").text
    assert "CANDIDATE (NOT USED)" in text.upper() and "reason evidence_not_confident" in text
    assert "VIEWS (1 OF 2 AGREE)" in text.upper() and "classifier neutral 0.100 no" in text
    # A refusal's reason is searchable.
    browser.find_element("id", "search").send_keys("evidence_not_confident")
    _wait(browser, "return document.querySelectorAll('#rows tr.row').length === 1")
    assert table_column(browser, "id") == ["row-0001"]


def test_injected_markup_never_runs(browser: Any, tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    hostile_report(tmp_path)
    browser.get_log("browser")  # drop earlier pages' messages
    open_report(browser, html_path)
    browser.find_element("id", "page-size").send_keys("250")
    # Expand every row, hover and click everything, so event-handler payloads get their chance.
    for i in range(len(browser.find_elements("css selector", "#rows tr.row"))):
        browser.find_elements("css selector", "#rows tr.row")[i].click()  # each click re-renders
    browser.execute_script(
        "document.querySelectorAll('*').forEach(function (e) {"
        "  ['mouseover', 'mouseenter', 'focus'].forEach(function (t) { e.dispatchEvent(new Event(t)); });"
        "});")
    assert browser.execute_script("return window.__pwned === undefined") is True
    counts = browser.execute_script(
        "return {scripts: document.scripts.length,"
        " foreign: document.querySelectorAll('img, iframe, object, embed, a, form, link, base').length,"
        " handlers: Array.from(document.querySelectorAll('*')).filter(function (e) {"
        "   return Array.from(e.attributes).some(function (a) { return a.name.indexOf('on') === 0; });"
        " }).length, details: document.querySelectorAll('tr.detail-row').length};")
    assert counts == {"scripts": 2, "foreign": 0, "handlers": 0, "details": 12}
    # Every hostile string is on the page as literal text.
    page_text = browser.execute_script("return document.body.textContent")
    for bad in XSS[:9]:
        assert bad in page_text
    assert browser.title == XSS[1]
    # Nothing was even attempted: no Content-Security-Policy violation was logged.
    assert [m for m in browser.get_log("browser") if "Content Security Policy" in m["message"]] == []


def test_100k_rows_keep_one_page_in_the_dom(browser: Any, tmp_path: Path) -> None:
    n = 100_000
    records = []
    for i in range(n):
        r = scored_record(i, confidence=((i * 7919) % n) / n)
        if i % 10:  # most rows without evidence, as a cheap method would write them
            r["clearft_evidence"] = {}
        records.append(r)
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = build_report([path], tmp_path / "big.html", page_size=50)
    assert result.payload["counts"]["rows"] == n
    open_report(browser, result.path)
    assert len(browser.find_elements("css selector", "#rows tr")) == 50
    first = browser.execute_script(
        "return Array.from(document.querySelectorAll('#rows tr.row')).slice(0, 3)"
        ".map(function (tr) { return parseInt(tr.getAttribute('data-index'), 10); });")
    assert [((i * 7919) % n) / n for i in first] == [0.0, 0.00001, 0.00002]
    assert "page 1 of 2000" in browser.find_element("id", "page-info").text
    click_header(browser, "confidence")
    assert table_column(browser, "confidence")[0] == "1.000"  # 0.99999 shown to 3 places
    assert len(browser.find_elements("css selector", "#rows tr")) == 50


def test_screenshot(browser: Any, tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    open_report(browser, build_report([d]).path)
    browser.find_element("css selector", '#rows tr.row').click()
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def _wait(driver: Any, condition_js: str, timeout: float = 10.0) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(condition_js))
