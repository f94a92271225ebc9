"""The registry site in a real browser: Debian's chromium driven by Selenium.

Opened from ``file://`` (``release site build``) and through ``release ui`` (a real
process on a port it picks): index -> artifact -> version -> card by clicking links; the
forced promotion, the rollback and the canary's noted reason show; no page logs a console
error or requests anything but the site itself; hostile text stays text. Screenshots go
to ``tests/artifacts/site/`` (gitignored). Outside CI the tests skip when chromium,
chromedriver or selenium are missing; under CI=true they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from site_support import ARTIFACT, ROLLBACK_REASON, copy_of_registry_project, start_ui

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "site"
BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,900",
)


def _need(what: str) -> None:
    message = f"the browser tests need {what} (apt-get install -y chromium chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").is_file() else None
    )
    if not chromium or not driver:
        _need("chromium and chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _need("selenium (pip install -e '.[dev]')")
    return chromium, driver  # type: ignore[return-value]


@pytest.fixture(scope="module")
def driver():
    chromium, chromedriver = _browser_binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="release-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(service=Service(chromedriver), options=options)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_of_registry_project(tmp_path_factory, tmp_path_factory.mktemp("site") / "proj")


def _requested_urls(drv) -> list[str]:
    urls = []
    for entry in drv.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _assert_clean(drv, allowed_prefix: str) -> None:
    errors = [e for e in drv.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == [], errors
    for url in _requested_urls(drv):
        assert url.startswith(allowed_prefix) or url.startswith("data:"), url


def _assert_inert(drv) -> None:
    # the hostile text is shown as text: no script element ran, no template was evaluated
    assert drv.execute_script("return document.querySelectorAll('script').length") == 0
    assert drv.execute_script("return window.__pwned === undefined")
    body = drv.find_element("tag name", "body").text
    assert "{{7*7}}" in body or "7*7" not in body


def _walk(drv, start: str, allowed_prefix: str, label: str) -> None:
    """index -> artifact -> version -> card, by clicking the links a person would."""
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    drv.get("about:blank")
    drv.get_log("performance")
    drv.get(start)
    assert drv.find_element(By.TAG_NAME, "main")
    assert drv.find_element(By.CSS_SELECTOR, "nav[aria-label='Site']")
    head = drv.find_elements(By.CSS_SELECTOR, "thead th[scope='col']")
    assert [h.text for h in head][:5] == ["Artifact", "Latest", "dev", "staging", "prod"]
    row = drv.find_element(By.CSS_SELECTOR, "tbody tr").text
    assert "v1.1.0" in row and "rollback" in row  # latest, and the last event
    drv.save_screenshot(str(ARTIFACTS / f"{label}-index.png"))
    _assert_clean(drv, allowed_prefix)

    drv.find_element(By.LINK_TEXT, ARTIFACT).click()
    timeline = drv.find_element(By.ID, "timeline").find_element(By.XPATH, "following::table")
    text = timeline.text
    assert "forced promotion" in text and "rollback" in text and ROLLBACK_REASON in text
    assert "<script>alert(1)</script>{{7*7}}" in text  # the forced promotion's reason
    chart = drv.find_element(By.CSS_SELECTOR, "figure svg[role='img'] title")
    assert "stage" in chart.get_attribute("textContent")
    _assert_inert(drv)
    drv.save_screenshot(str(ARTIFACTS / f"{label}-artifact.png"))
    _assert_clean(drv, allowed_prefix)

    drv.find_element(By.CSS_SELECTOR, "#versions + table a[href='v1.1.0.html']").click()
    page = drv.find_element(By.TAG_NAME, "main").text
    assert "rolled_back" in page and ROLLBACK_REASON in page  # the noted canary
    assert "Against v1.0.0 (the previous version, in dev now, in staging now, in prod now)" in page
    assert "HLP" in page and "Interval" in page
    _assert_inert(drv)
    drv.save_screenshot(str(ARTIFACTS / f"{label}-version.png"))
    _assert_clean(drv, allowed_prefix)

    drv.find_element(By.LINK_TEXT, "Model card").click()
    assert drv.title.startswith("Model card: model")
    assert "<script>alert(1)</script>{{7*7}}" in drv.find_element(By.TAG_NAME, "body").text
    _assert_inert(drv)
    drv.save_screenshot(str(ARTIFACTS / f"{label}-card.png"))
    _assert_clean(drv, allowed_prefix)
    drv.find_element(By.LINK_TEXT, "Back to the version page").click()
    assert "v1.1.0" in drv.title

    # keyboard: the first Tab lands on the skip link, Enter moves to the content
    from selenium.webdriver.common.keys import Keys

    drv.get(start)
    drv.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = drv.switch_to.active_element
    assert focused.text == "Skip to content" or focused.get_attribute("class") == "skip"


def test_site_from_file_urls(driver, project, tmp_path):
    subprocess.run(
        [str(BIN / "release"), "site", "build", "--out", str(tmp_path / "out")],
        cwd=project,
        check=True,
        capture_output=True,
    )
    start = (tmp_path / "out" / "index.html").as_uri()
    _walk(driver, start, (tmp_path / "out").as_uri(), "file")


def test_site_through_release_ui(driver, project):
    proc, url = start_ui(project, "--interval", "0.3")
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/index.html"), url
        base = url.removesuffix("index.html")
        _walk(driver, url, base, "ui")
        # a new tag shows without a restart: the ui rebuilt when the refs changed
        subprocess.run(
            [str(BIN / "release"), "deprecate", ARTIFACT, "v1.1.0", "-m", "withdrawn"],
            cwd=project,
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            driver.get(base + "artifacts/model/index.html")
            if (
                "deregistration"
                in driver.find_element("id", "timeline")
                .find_element("xpath", "following::table")
                .text
            ):
                break
            time.sleep(0.3)
        else:
            pytest.fail("release ui did not rebuild after a new tag")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
