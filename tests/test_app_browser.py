"""End to end in a real browser: the FiftyOne App with the Winnow plugin, driven by
headless Chromium (Debian's ``chromium`` through Playwright's Python package).

The App server is a separate process that inherits this process's environment
(database ``winnow-test``, ``FIFTYONE_PLUGINS_DIR`` = a temp dir linking to this checkout) and is always
stopped, even when the test fails. Screenshots go to ``tests/artifacts/``.
"""

import os
import socket
import subprocess
import sys
import time

import pytest

from winnow.plugin import embedding_map
from winnow_fields import add_winnow_fields

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking"]
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "artifacts")

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright's Python package is not installed "
                                  "(pip install -e '.[test]')")
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip("Debian's chromium is not installed at %s (scripts/setup.sh installs it)"
                % CHROMIUM, allow_module_level=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def app_dataset(demo_embedded):
    """The demo set with every Winnow section filled and its 2-D map."""
    ds = demo_embedded.clone()
    add_winnow_fields(ds)
    embedding_map.compute_map(ds, "embedding")
    yield ds
    ds.delete()


@pytest.fixture(scope="module")
def app_url(app_dataset, tmp_path_factory):
    """A FiftyOne App server in its own process; stopped at the end, whatever happens."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("app") / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "fiftyone.server.main", "--port", str(port),
             "--address", "127.0.0.1"],
            env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.time() + 90
        while not _port_open(port):
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError("The App server did not start:\n" + log_path.read_text())
            time.sleep(0.5)
        yield "http://127.0.0.1:%d" % port
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
    assert not _port_open(port), "the App server is still listening"


@pytest.fixture
def page(app_url):
    os.makedirs(ARTIFACTS, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        p.selectors.set_test_id_attribute("data-cy")  # FiftyOne's test ids
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1700, "height": 1150})
        finally:
            browser.close()


def _grid_count(page):
    return page.get_by_test_id("entry-counts")


def test_panel_shows_counts_and_map_and_show_outliers_changes_the_grid(app_dataset, app_url,
                                                                      page):
    expect = playwright_api.expect
    ds = app_dataset
    tags = ds.count_values("tags")

    page.goto("%s/datasets/%s" % (app_url, ds.name))
    expect(_grid_count(page)).to_contain_text("%d samples" % len(ds), timeout=90_000)
    dismiss = page.get_by_text("Dismiss", exact=True)  # the App's Enterprise pop-over
    if dismiss.count():
        dismiss.first.click()

    page.get_by_title("New panel").first.click()
    page.get_by_test_id("new-panel-option-winnow").click()
    content = page.get_by_test_id("panel-content-winnow")
    expect(content).to_contain_text("Winnow · " + ds.name, timeout=60_000)

    # The counts, as the dataset has them.
    for label, tag in [("Outliers", "outlier"), ("Redundant", "redundant"),
                       ("Representatives", "representative"), ("Label issues", "label_issue")]:
        expect(content).to_contain_text("%s: %d (" % (label, tags[tag]))
    expect(content).to_contain_text("All %d points" % len(ds))

    # The plots render: the map draws one marker per sample, the histograms (one per
    # run score field: outlier score, redundancy distance, medoid distance, label quality)
    # their bars.
    plots = content.locator(".js-plotly-plot")
    expect(plots).to_have_count(5, timeout=30_000)
    markers = plots.first.locator(".scatterlayer path.point")
    expect(markers).to_have_count(len(ds), timeout=30_000)
    assert plots.nth(1).locator(".barlayer path").count() > 0
    expect(content).to_contain_text("redundant → kept")  # the map's link trace legend
    page.wait_for_timeout(1000)  # let images and plot transitions settle for the picture
    page.screenshot(path=os.path.join(ARTIFACTS, "app-winnow-panel.png"))
    content.screenshot(path=os.path.join(ARTIFACTS, "winnow-panel.png"))

    # Review: the worst labels with their thumbnails, served by the App.
    content.get_by_text("REVIEW", exact=True).scroll_into_view_if_needed()
    expect(content.get_by_role("button", name="Accept")).to_have_count(8)
    thumbs = content.locator("img[src^='/media?filepath=']")
    expect(thumbs.first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"img[src^='/media?filepath=']\")]"
        ".slice(0, 8).every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=os.path.join(ARTIFACTS, "app-winnow-review.png"))

    # One click shows the outliers in the grid.
    content.get_by_role("button", name="Show outliers").click()
    expect(_grid_count(page)).to_contain_text("%d samples" % tags["outlier"], timeout=30_000)
    expect(page.get_by_test_id("error-boundary")).to_have_count(0)
    page.wait_for_timeout(1000)
    page.screenshot(path=os.path.join(ARTIFACTS, "app-show-outliers.png"))

    content.get_by_role("button", name="Show all samples").click()
    expect(_grid_count(page)).to_contain_text("%d samples" % len(ds), timeout=30_000)

