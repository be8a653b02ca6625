"""The review page in headless Chromium (as the report's browser tests, and skipped the same
way): make each kind of decision, download them, and `clearft apply` them; served by
`clearft review --serve`, each decision saved as it is made and shown again after a reload."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clearft.cli.main import main
from clearft.report.browser import chromium_paths, headless_chromium
from clearft.review import build_queue

from .test_report_fixtures import XSS, evidence_corrected_record, write_jsonl
from .test_review_queue import hostile_file

pytest.importorskip("selenium", reason="selenium is not installed (pip install 'clearft[dev]')")
if chromium_paths() is None:
    pytest.skip("Chromium is not installed (apt-get install -y chromium chromium-driver)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with headless_chromium() as driver:
        yield driver


def _wait(driver: Any, condition_js: str, timeout: float = 10.0) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(condition_js))


def open_queue(driver: Any, path: Path | str) -> None:
    driver.get(path if isinstance(path, str) else path.resolve().as_uri())
    _wait(driver, "return document.body && document.body.getAttribute('data-ready') === 'true'", 60)


def click(driver: Any, element: Any) -> None:
    """A real click, after scrolling the element clear of the sticky header."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def item(driver: Any, row_id: str) -> Any:
    return driver.find_element("css selector", f'article.item[data-id="{row_id}"]')


def test_decide_each_kind_download_and_apply(browser: Any, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", [evidence_corrected_record(i, replaced=False) for i in range(5)])
    queue = build_queue(data, tmp_path / "queue.html", limit=5).path
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    open_queue(browser, queue)
    assert len(browser.find_elements("css selector", "article.item")) == 5
    browser.find_element("id", "reviewer").send_keys("ann")
    click(browser, item(browser, "row-0000").find_element("css selector", "button.keep"))
    click(browser, item(browser, "row-0001").find_element("css selector", "button.replace"))  # the judge's candidate
    area = item(browser, "row-0002").find_element("css selector", "textarea.edit-text")
    area.clear()
    area.send_keys("edited <b>x</b>")
    click(browser, item(browser, "row-0002").find_element("css selector", "button.edit"))
    click(browser, item(browser, "row-0003").find_element("css selector", "button.drop"))
    click(browser, item(browser, "row-0003").find_element("css selector", "button.keep"))  # changed their mind:
    click(browser, item(browser, "row-0003").find_element("css selector", "button.drop"))  # the last one wins
    assert "4 of 5 decided" in browser.find_element("id", "decided-count").text
    assert "replace → positive" in item(browser, "row-0001").find_element("css selector", ".status").text
    browser.find_element("id", "download").click()
    _wait(browser, "return document.getElementById('export').textContent.length > 0")
    text = browser.execute_script("return document.getElementById('export').textContent")
    saved = downloads / "decisions.jsonl"
    deadline = time.time() + 10
    while not saved.is_file() and time.time() < deadline:
        time.sleep(0.1)
    assert saved.is_file(), "the download button saved no decisions.jsonl"
    assert saved.read_text(encoding="utf-8") == text  # the file is what the page showed
    lines = [json.loads(x) for x in text.split("\n") if x]
    assert [(d["id"], d["decision"], d.get("new_target")) for d in lines] == [
        ("row-0000", "keep", None), ("row-0001", "replace", "positive"),
        ("row-0002", "edit", "edited <b>x</b>"), ("row-0003", "drop", None)]
    assert all(d["reviewer"] == "ann" and d["decided_at"].endswith("Z") for d in lines)
    assert main(["apply", str(saved), "-o", str(tmp_path / "out.jsonl"), "--data", str(data)]) == 0
    out = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    dropped = [json.loads(x) for x in (tmp_path / "out.dropped.jsonl").read_text().splitlines()]
    assert sorted(out) == ["row-0000", "row-0001", "row-0002", "row-0004"] and [d["id"] for d in dropped] == ["row-0003"]
    assert out["row-0000"]["response"] == "negative" and out["row-0000"]["clearft_review"]["reviewer"] == "ann"
    assert out["row-0001"]["response"] == "positive" and out["row-0001"]["clearft_original_response"] == "negative"
    assert out["row-0002"]["response"] == "edited <b>x</b>"
    assert out["row-0004"]["clearft_review"] is None and out["row-0004"]["response"] == "negative"


def test_injected_markup_never_runs(browser: Any, tmp_path: Path) -> None:
    path = build_queue(hostile_file(tmp_path), tmp_path / "q.html", limit=100, title=XSS[1]).path
    browser.get_log("browser")
    open_queue(browser, path)
    # Decide everything, open every evidence block, hover everything.
    for details in browser.find_elements("css selector", "details"):
        click(browser, details.find_element("tag name", "summary"))
    for button in browser.find_elements("css selector", "button.replace"):
        click(browser, button)
    browser.execute_script(
        "document.querySelectorAll('*').forEach(function (e) {"
        "  ['mouseover', 'mouseenter', 'focus'].forEach(function (t) { e.dispatchEvent(new Event(t)); });"
        "});")
    assert browser.execute_script("return window.__pwned === undefined") is True
    counts = browser.execute_script(
        "return {scripts: document.scripts.length,"
        " foreign: document.querySelectorAll('img, iframe, object, embed, a, form, link, base, svg').length,"
        " handlers: Array.from(document.querySelectorAll('*')).filter(function (e) {"
        "   return Array.from(e.attributes).some(function (a) { return a.name.indexOf('on') === 0; });"
        " }).length, items: document.querySelectorAll('article.item').length};")
    assert counts == {"scripts": 2, "foreign": 0, "handlers": 0, "items": len(XSS)}
    page_text = browser.execute_script("return document.body.textContent")
    for bad in XSS[:9]:
        assert bad in page_text
    assert browser.title == XSS[1]
    # One decision a "\n"-ended line (str.splitlines would also split at the raw U+2028 inside).
    lines = [x for x in browser.execute_script("return window.clearftReview.jsonl()").split("\n") if x]
    # Each row's last candidate (its view's label) was clicked last, so it won.
    assert {json.loads(x)["new_target"] for x in lines} == {bad + " view" for bad in XSS}
    assert [m for m in browser.get_log("browser") if "Content Security Policy" in m["message"]] == []


def test_served_queue_saves_each_decision_as_made_and_shows_them_after_reload(browser: Any, tmp_path: Path) -> None:
    """`clearft review --serve`: the page posts each decision to the server, which appends it
    to the decisions file at once; a reload shows them; `clearft apply` takes the file."""
    import threading

    from clearft.review.serve import serve_queue

    data = write_jsonl(tmp_path / "data.jsonl", [evidence_corrected_record(i, replaced=False) for i in range(5)])
    decisions = tmp_path / "decisions.jsonl"
    server = serve_queue(data, decisions, limit=5, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        browser.get_log("browser")
        open_queue(browser, server.url)
        browser.find_element("id", "reviewer").send_keys("ann")
        click(browser, item(browser, "row-0000").find_element("css selector", "button.keep"))
        click(browser, item(browser, "row-0001").find_element("css selector", "button.replace"))
        area = item(browser, "row-0002").find_element("css selector", "textarea.edit-text")
        area.clear()
        area.send_keys("edited <b>x</b>")
        click(browser, item(browser, "row-0002").find_element("css selector", "button.edit"))
        click(browser, item(browser, "row-0003").find_element("css selector", "button.keep"))
        click(browser, item(browser, "row-0003").find_element("css selector", "button.drop"))  # the last one wins
        _wait(browser, "return document.body.getAttribute('data-saving') === '0'")
        states = browser.execute_script(
            "return Array.from(document.querySelectorAll('article.item')).map(function (e) {"
            " return [e.getAttribute('data-id'), e.getAttribute('data-saved')]; });")
        assert dict(states) == {"row-0000": "saved", "row-0001": "saved", "row-0002": "saved",
                                "row-0003": "saved", "row-0004": None}
        # On disk as they were made (the server has not stopped)
        written = [json.loads(x) for x in decisions.read_text(encoding="utf-8").splitlines()]
        assert [(d["id"], d["decision"], d.get("new_target")) for d in written] == [
            ("row-0000", "keep", None), ("row-0001", "replace", "positive"), ("row-0002", "edit", "edited <b>x</b>"),
            ("row-0003", "keep", None), ("row-0003", "drop", None)]
        assert all(d["reviewer"] == "ann" and d["decided_at"].endswith("Z") for d in written)
        # A reload shows what is saved
        open_queue(browser, server.url)
        assert "4 of 5 decided" in browser.find_element("id", "decided-count").text
        assert "(saved)" in item(browser, "row-0003").find_element("css selector", ".status").text
        assert "drop" in item(browser, "row-0003").find_element("css selector", ".status").text
        assert browser.find_element("id", "reviewer").get_attribute("value") == "ann"
        assert [m for m in browser.get_log("browser") if "Content Security Policy" in m["message"]] == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert main(["apply", str(decisions), "-o", str(tmp_path / "out.jsonl"), "--data", str(data)]) == 0
    out = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert sorted(out) == ["row-0000", "row-0001", "row-0002", "row-0004"]
    assert out["row-0002"]["response"] == "edited <b>x</b>" and out["row-0001"]["response"] == "positive"


def test_served_page_refuses_a_write_when_the_server_says_no(browser: Any, tmp_path: Path) -> None:
    """A write the server refuses (here: the token changed under the page) shows NOT SAVED."""
    import threading

    from clearft.review.serve import serve_queue

    data = write_jsonl(tmp_path / "data.jsonl", [evidence_corrected_record(i, replaced=False) for i in range(2)])
    server = serve_queue(data, tmp_path / "d.jsonl", limit=2, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        open_queue(browser, server.url)
        server.token = "changed"
        click(browser, item(browser, "row-0000").find_element("css selector", "button.keep"))
        _wait(browser, "return document.body.getAttribute('data-saving') === '0'")
        assert item(browser, "row-0000").get_attribute("data-saved") == "unsaved"
        assert "NOT SAVED" in item(browser, "row-0000").find_element("css selector", ".status").text
        assert not (tmp_path / "d.jsonl").exists()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
