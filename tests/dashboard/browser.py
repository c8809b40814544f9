"""A real headless Chromium for the dashboard tests (Debian's chromium + chromium-driver,
driven by Selenium). :func:`find_browser` says why there is none, for a clear skip."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)


def find_browser() -> tuple[str, str] | str:
    """``(chromium, chromedriver)`` paths, or the reason there is no browser."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'ringpop[dashboard-test]')"
    browser = os.environ.get("RINGPOP_CHROMIUM") or next(
        (p for p in map(shutil.which, CHROMIUM_NAMES) if p), None
    )
    driver = os.environ.get("RINGPOP_CHROMEDRIVER") or next(
        (p for p in map(shutil.which, DRIVER_NAMES) if p), None
    )
    if browser is None or driver is None:
        return (
            "no Chromium and chromedriver on PATH "
            "(apt-get install chromium chromium-driver; .ci/run does it as root)"
        )
    return browser, driver


def start_browser(browser: str, driver: str, *, width: int = 1400, height: int = 1000) -> WebDriver:
    """A headless Chromium; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",  # we run as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
