"""Headless Chromium through the system chromium-driver, with the network cut off.

`open_page` loads a file: URL and returns what a test asserts on: the console's errors, every
URL the page asked for (from the DevTools performance log), the load time, and whether the
page scrolls sideways at the given width.  Screenshots go under build/report-shots/.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "report-shots"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WIDTH = 1280


@dataclass
class Loaded:
    driver: Any
    path: Path
    seconds: float  # navigation start to the load event, as the page measured it
    errors: list[str] = field(default_factory=list)  # console messages of level SEVERE
    requests: list[str] = field(default_factory=list)  # every URL the page requested
    scroll_width: int = 0
    client_width: int = 0


def available() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    missing = [p for p in (DRIVER, CHROMIUM) if not Path(p).exists()]
    if missing:
        return f"missing {', '.join(missing)}: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: make setup"
    return ""


@contextmanager
def chromium() -> Iterator[Any]:
    reason = available()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},900", "--proxy-server=127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run",
                "--disable-background-networking", "--disable-component-update"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()


def open_page(driver: Any, path: Path) -> Loaded:
    driver.get_log("performance")  # drop what earlier pages logged
    driver.get_log("browser")
    driver.get(path.resolve().as_uri())
    for _ in range(200):
        if driver.execute_script("return document.readyState") == "complete":
            break
        time.sleep(0.01)
    ms = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return n.loadEventEnd - n.startTime;")
    out = Loaded(driver, path, float(ms) / 1000)
    out.errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            out.requests.append(msg["params"]["request"]["url"])
    out.scroll_width, out.client_width = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    return out


def screenshot(driver: Any, name: str, max_height: int = 6000) -> Path:
    """The whole page (up to max_height px) as build/report-shots/NAME.png."""
    import base64

    SHOTS.mkdir(parents=True, exist_ok=True)
    height = min(int(driver.execute_script("return document.documentElement.scrollHeight")),
                 max_height)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}})
    target = SHOTS / f"{name}.png"
    target.write_bytes(base64.b64decode(shot["data"]))
    return target


def only_local(requests: list[str]) -> list[str]:
    """The requests to anything but file: or data: (what a test expects to be empty)."""
    return [u for u in requests if not u.startswith(("file:", "data:"))]
