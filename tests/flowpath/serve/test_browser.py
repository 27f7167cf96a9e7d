"""The page in a real browser (issue 27): Debian's headless Chromium, driven by Selenium through /usr/bin/chromedriver.

Outside CI the test skips, saying why, when Chromium or its driver is missing; with ``CI=true`` it fails instead.
It saves a screenshot of the page with the attribution drawn (its path is printed; ``FLOWPATH_SERVE_SCREENSHOT``
names a second copy, e.g. ``docs/serve_page.png``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowpath.agent.graph import build_agent
from flowpath.serve import create_app
from flowpath.serve.engine import ChartEngine

from .conftest import ANSWER, QUESTION, SAMPLE

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500")
"""Headless, and the two flags Chromium needs to run as root in a container with a small /dev/shm."""
WAIT_S = 120
"""Longest wait for the page to show a parse or an attribution (a cold first parse loads the OCR model)."""


def _missing_browser() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return f"{path} not found (apt-get install chromium chromium-driver; `make install` does it)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the browser test cannot run: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # a given driver: nothing downloads
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def live_url(engine: ChartEngine) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread of this process."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(create_app(engine.settings, engine=engine), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_page_uploads_the_sample_and_highlights_the_grounding_nodes(
    browser, live_url: str, engine: ChartEngine, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT_S)
    driver.get(live_url + "/")
    unlabelled = driver.execute_script(
        "return [...document.querySelectorAll('input, textarea, select')].filter(e => !e.labels.length).map(e => e.id)"
    )
    assert unlabelled == []  # every control has a label (screen readers, keyboard users)
    driver.find_element(By.ID, "submit").click()  # nothing chosen yet: the page says so
    assert "Choose a chart image" in wait.until(ec.visibility_of_element_located((By.ID, "error"))).text

    driver.find_element(By.ID, "image").send_keys(str(SAMPLE))
    wait.until(ec.text_to_be_present_in_element((By.ID, "parse-info"), "nodes"))
    assert driver.find_elements(By.CSS_SELECTOR, "#overlay rect.node")  # the parsed graph drawn over the chart
    driver.find_element(By.ID, "question").send_keys(QUESTION)
    driver.find_element(By.ID, "answer").send_keys(ANSWER)
    driver.find_element(By.ID, "submit").click()
    items = wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "#nodes li.grounded")))
    shown = [li.get_attribute("data-node-id") for li in items]

    graph = engine.cached(hashlib.sha256(SAMPLE.read_bytes()).hexdigest())
    assert graph is not None
    result = build_agent().attribute(graph, QUESTION, ANSWER)
    expected = [n.id for n in sorted(result.nodes, key=lambda n: -n.score)]  # best first, ties in flow order
    assert shown == expected and len(expected) >= 2
    highlighted = driver.find_elements(By.CSS_SELECTOR, "#overlay rect.grounded")
    assert sorted(r.get_attribute("data-node-id") for r in highlighted) == sorted(expected)
    assert driver.find_element(By.ID, "reason").text
    assert not driver.find_element(By.ID, "error").is_displayed()

    driver.set_window_size(1280, 2000)  # the list, the reason and the whole chart in one picture
    shot = tmp_path / "serve_page.png"
    driver.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    if os.environ.get("FLOWPATH_SERVE_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["FLOWPATH_SERVE_SCREENSHOT"])
    assert shot.stat().st_size > 10_000

    driver.set_window_size(390, 844)  # a phone: one column, nothing wider than the screen
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
