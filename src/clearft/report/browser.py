"""Open a report in headless Chromium (Debian's `chromium` + `chromium-driver`) via Selenium.

For tests and the docs screenshot only: the report itself needs no browser to build. The
flags are the ones that work as root and offline: no sandbox, no GPU, no first-run or
background network traffic, and a fresh profile every time.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clearft.deps import require

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic",
]


def chromium_paths() -> tuple[str, str] | None:
    """(browser, driver) executables, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None and Path("/usr/bin/chromium").exists():
        browser = "/usr/bin/chromium"
    return (browser, driver) if browser and driver else None


@contextmanager
def headless_chromium(width: int = 1300, height: int = 1000) -> Iterator[Any]:
    """A Selenium WebDriver on a fresh headless Chromium profile; quits and cleans up after."""
    require("selenium", "driving Chromium for report screenshots (pip install 'clearft[dev]')")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        from clearft.errors import MissingDependencyError

        raise MissingDependencyError(
            "Chromium is not installed; on Debian: apt-get install -y chromium chromium-driver")
    browser, driver_path = paths
    profile = tempfile.mkdtemp(prefix="clearft-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
