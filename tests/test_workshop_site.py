"""The workshop site in a real browser: built strictly from docs/ with the figures of the labs' own
run (tests/test_workshop.py runs first and writes them), served on loopback, and every page opened
in headless Chromium (Debian's chromium, driven by Selenium through Debian's chromium-driver).

Checked on every page: no console errors, every image loaded, every internal link answers 200.
Then: search finds "batching", and a code block's copy button puts its command on the clipboard.
Screenshots of two pages are kept in build/site-screenshots (SITE_SCREENSHOTS) as artifacts.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
import requests

from site_hooks import figures_dir

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("SITE_SCREENSHOTS") or REPO / "build" / "site-screenshots")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def require_chromium() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).is_file()]
    if missing:
        message = f"{' and '.join(missing)} not installed: apt-get install chromium chromium-driver"
        if os.environ.get("REQUIRE_CHROMIUM") == "1":
            pytest.fail(message)
        pytest.skip(message)


def require_figures() -> None:
    if not (figures_dir() / "figures.json").is_file():
        pytest.fail(f"no figures in {figures_dir()}: the workshop test (tests/test_workshop.py, or `make figures`) "
                    "writes them, and runs first in `make test`")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # one line per request would drown the output
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, folder) of the site built with `mkdocs build --strict`, served on a free port."""
    require_chromium()
    require_figures()
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(folder)], cwd=REPO,
                           capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-4000:]
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def pages(folder: Path, base: str) -> list[str]:
    """Every page of the built site, by its URL."""
    found = sorted(path.relative_to(folder).parent.as_posix() for path in folder.glob("**/index.html"))
    return [urljoin(base, "" if page == "." else f"{page}/") for page in found]


def open_page(driver: Any, url: str) -> None:
    driver.get(url)
    deadline = time.monotonic() + 30
    while driver.execute_script("return document.readyState") != "complete":
        assert time.monotonic() < deadline, f"{url} did not finish loading"
        time.sleep(0.1)


def test_every_page_loads_cleanly_with_its_images_and_links(site: tuple[str, Path], browser: Any) -> None:
    base, folder = site
    urls = pages(folder, base)
    assert len(urls) >= 15, urls  # the home page, 8 labs, architecture, contract, 3 packages, figures
    checked: dict[str, int] = {}
    problems = []
    images = 0
    for url in urls:
        open_page(browser, url)
        errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        problems += [f"{url}: console error: {error}" for error in errors]
        sizes = browser.execute_script(
            "return Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete, i.naturalWidth])")
        images += len(sizes)
        problems += [f"{url}: image not loaded: {src}" for src, complete, width in sizes if not (complete and width > 0)]
        links = browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        for link in links:
            target = urldefrag(link)[0]
            if urlparse(target).netloc != urlparse(base).netloc or target in checked:
                continue
            checked[target] = requests.get(target, timeout=10).status_code
            if checked[target] != 200:
                problems.append(f"{url}: link {target} answered {checked[target]}")
    print(f"{len(urls)} pages, {images} images, {len(checked)} internal links checked")
    assert not problems, "\n".join(problems)
    assert images >= 11  # the labs' figures: batching 3, tuning 1, swap 1, dashboards 6


def test_search_finds_batching(site: tuple[str, Path], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = site
    open_page(browser, base)
    box = WebDriverWait(browser, 10).until(ready.element_to_be_clickable((By.CSS_SELECTOR, "input.md-search__input")))
    box.click()
    box.send_keys("batching")
    results = WebDriverWait(browser, 20).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
    titles = [result.text for result in results]
    print(f"search 'batching': {len(results)} results, first: {titles[0].splitlines()[0] if titles else None}")
    assert any("batching" in title.lower() for title in titles), titles
    assert any("Lab 5" in title for title in titles), titles


def test_a_copy_button_puts_the_command_on_the_clipboard(site: tuple[str, Path], browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    base, _ = site
    url = urljoin(base, "workshop/05-batching/")
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": base.rstrip("/"),
                                                         "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    open_page(browser, url)
    button = browser.find_element(By.CSS_SELECTOR, "button.md-code__button[data-md-type='copy']")
    target = button.get_attribute("data-clipboard-target")
    expected = browser.execute_script("return document.querySelector(arguments[0]).innerText", target)
    assert "python -m ctr_serving loadtest batching" in expected, expected
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    # The button shows when the pointer is over its block, as for a reader.
    ActionChains(browser).move_to_element(button.find_element(By.XPATH, "ancestor::pre")).click(button).perform()
    copied = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.readText().then(done, error => done('unreadable: ' + error))")
    print(f"copy button: target {target}; clipboard after the click: {copied[:80]!r}")
    # Headless Chromium with the permission granted reads its clipboard back; the test says so if not.
    assert copied.strip() == expected.strip(), f"the clipboard holds {copied!r}, the block {expected!r}"


def test_screenshots_of_two_pages(site: tuple[str, Path], browser: Any) -> None:
    base, _ = site
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    for name, page in (("home.png", ""), ("lab-5-batching.png", "workshop/05-batching/")):
        open_page(browser, urljoin(base, page))
        path = SCREENSHOTS / name
        assert browser.save_screenshot(str(path)) and path.stat().st_size > 10_000
        print(f"screenshot: {path}")


def test_without_the_figures_the_build_names_the_command_that_makes_them(tmp_path: Path) -> None:
    def build(figures: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                              cwd=REPO, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "WORKSHOP_FIGURES": str(figures), "NO_MKDOCS_2_WARNING": "1"})

    done = build(tmp_path / "none")
    assert done.returncode != 0 and "`make figures` makes them" in done.stderr, done.stderr[-2000:]
    # A run that lost a figure the labs show: the strict build fails on the page's broken image.
    require_figures()
    partial = tmp_path / "partial"
    shutil.copytree(figures_dir(), partial)
    (partial / "swap" / "latency_timeline.png").unlink()
    listed = [f for f in json.loads((partial / "figures.json").read_text()) if f["path"] != "swap/latency_timeline.png"]
    (partial / "figures.json").write_text(json.dumps(listed))
    done = build(partial)
    assert done.returncode != 0 and "figures/swap/latency_timeline.png" in done.stderr, done.stderr[-2000:]
