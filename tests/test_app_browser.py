"""End to end in a real browser: the FiftyOne App with the Winnow plugin, driven by
headless Chromium (Debian's ``chromium`` through Playwright's Python package).

The App server is a separate process that inherits this process's environment
(database ``winnow-test``, ``FIFTYONE_PLUGINS_DIR`` = a temp dir linking to this checkout) and is always
stopped, even when the test fails. Screenshots go to ``tests/artifacts/``.

Four flows: the Winnow panel on a dataset every step ran on; its image-issues row
(counts per kind, a kind's saved view in the grid) on planted photographs; a Winnow operator
opened from the operator browser (a bad value flagged as typed, then a run whose
results reach the grid and the panel), then Accept / Undo in the panel's review list;
and the panel switched to objects (issue 14): an object finding's count, the object
runs' rows, the map of the objects, its saved patches view loaded into the grid, the
review list's object crops. Nothing in the panel runs past its right edge, also after
the window (and so the panel) is made narrower.
"""

import math
import os
import re
import socket
import subprocess
import sys
import time

import pytest

import winnow
from winnow.plugin import embedding_map
from conftest import unique_name
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
def app_url(tmp_path_factory):
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
            page = browser.new_page(viewport={"width": 1700, "height": 1150})
            # The App's Enterprise pop-over may cover the grid at any time: dismiss it.
            page.add_locator_handler(page.get_by_role("button", name="Dismiss"),
                                     lambda button: button.click())
            yield page
        finally:
            browser.close()


def _grid_count(page):
    return page.get_by_test_id("entry-counts")


def _open_dataset(page, app_url, ds):
    page.goto("%s/datasets/%s" % (app_url, ds.name), wait_until="load")
    playwright_api.expect(_grid_count(page)).to_contain_text("%d samples" % len(ds),
                                                            timeout=90_000)


# What lies past the panel's right edge: every HTML element, and each plot's SVG (the
# parts of a plot inside its SVG are clipped by it).
_OVERFLOW_JS = """(root) => {
  const edge = root.getBoundingClientRect().right + 1;
  const out = [];
  for (const el of root.querySelectorAll('*')) {
    if (el instanceof SVGElement && !el.matches('svg.main-svg')) continue;
    const b = el.getBoundingClientRect();
    if (b.width > 0 && b.right > edge) {
      const cls = el.className.baseVal ?? el.className;
      out.push(el.tagName + '.' + String(cls).slice(0, 40) + ' ' + (b.right - edge + 1) + 'px');
    }
  }
  return out;
}"""


def _past_the_edge(content):
    return content.evaluate(_OVERFLOW_JS)


def _open_panel(page):
    page.get_by_title("New panel").first.click()
    page.get_by_test_id("new-panel-option-winnow").click()
    return page.get_by_test_id("panel-content-winnow")


def test_panel_shows_counts_and_map_and_show_outliers_changes_the_grid(app_dataset, app_url,
                                                                      page):
    expect = playwright_api.expect
    ds = app_dataset
    tags = ds.count_values("tags")

    _open_dataset(page, app_url, ds)
    content = _open_panel(page)
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
    # Plots, controls and rows of buttons stay inside the panel (700 px here).
    assert _past_the_edge(content) == []
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


@pytest.fixture
def image_issues_dataset(tmp_path, make_dataset):
    """Real photographs, 2 darkened and 3 blurred, after ``find_image_issues``."""
    import fiftyone as fo
    from winnow.plugin.image_issues import find_image_issues
    from test_panel import plant_image_issues

    files = plant_image_issues(tmp_path)
    ds = make_dataset([fo.Sample(filepath=p) for kind in ("clean", "dark", "blurry")
                       for p in files[kind]], name=unique_name("winnow-test-image-issues"))
    find_image_issues(ds, progress=False)
    return ds


def test_panel_shows_image_issue_counts_and_a_kind_button_loads_its_view(
        image_issues_dataset, app_url, page):
    expect = playwright_api.expect
    ds = image_issues_dataset
    assert ds.count_sample_tags() == dict(dark=2, blurry=3)
    _open_dataset(page, app_url, ds)
    content = _open_panel(page)
    expect(content).to_contain_text("Image issues: 5 (62.5 %) · dark 2 · blurry 3",
                                    timeout=60_000)
    # No single score: a histogram per image-issue score field, with its bars.
    plots = content.locator(".js-plotly-plot")
    expect(plots).to_have_count(6, timeout=30_000)
    expect(plots.first.locator(".barlayer path").first).to_be_attached(timeout=30_000)
    expect(content).to_contain_text("Sharpness (image_sharpness)")
    page.wait_for_timeout(1000)
    content.screenshot(path=os.path.join(ARTIFACTS, "winnow-panel-image-issues.png"))

    # A kind's button loads its saved view: the grid shows those images.
    content.get_by_role("button", name="dark (2)").click()
    expect(_grid_count(page)).to_have_text(re.compile(r"^2 samples"), timeout=30_000)
    expect(page).to_have_url(re.compile(r"view=winnow-image-dark"), timeout=30_000)
    expect(page.get_by_test_id("error-boundary")).to_have_count(0)
    page.wait_for_timeout(1000)
    page.screenshot(path=os.path.join(ARTIFACTS, "app-image-issues-dark.png"))
    content.get_by_role("button", name="blurry (3)").click()
    expect(_grid_count(page)).to_have_text(re.compile(r"^3 samples"), timeout=30_000)


@pytest.fixture
def review_dataset(demo_embedded):
    """The demo set with one label-issues run (the panel's review list) and nothing else."""
    ds = demo_embedded.clone(unique_name("winnow-test-review"))
    winnow.find_label_issues(ds, label_field="ground_truth", progress=False)
    yield ds
    ds.delete()


def _form_input(page, label):
    # Operator forms label their fields with a <p> above the input.
    return page.locator("xpath=//p[text()='%s']/ancestor::div[contains(@class, "
                        "'MuiGrid-item')][1]//input" % label)


def _open_operator_form(page, query, label, tries=3):
    """Opens an operator's form from the operator browser (backtick, type, Enter) and
    returns its input ``label``. Keystrokes trigger no locator handler: when the App's
    pop-over takes the focus first they are lost, so a user (and this) tries again."""
    field = _form_input(page, label)
    for attempt in range(tries):
        page.keyboard.press("`")
        page.keyboard.type(query)
        page.keyboard.press("Enter")
        try:
            field.wait_for(state="visible", timeout=15_000)
            return field
        except playwright_api.Error:
            if attempt == tries - 1:
                raise
            _grid_count(page).hover()  # a locator action: the pop-over handler runs
            page.keyboard.press("Escape")
    return field


def test_operator_form_flags_a_bad_value_then_runs_and_review_accept_undo(review_dataset,
                                                                          app_url, page):
    expect = playwright_api.expect
    ds = review_dataset
    n = len(ds)
    _open_dataset(page, app_url, ds)

    # The operator browser (backtick), as a user opens a Winnow operator.
    score = _open_operator_form(page, "find outliers", "Score field")
    expect(score).to_have_value("outlier_score", timeout=30_000)  # the engine's default
    execute = page.get_by_role("button", name="Execute")

    # A bad value is flagged as it is typed, with the engine's message; no execution.
    score.fill("filepath")
    expect(page.get_by_text("Refusing to write the reserved field 'filepath'")).to_be_visible(
        timeout=30_000)
    expect(execute).to_be_disabled()
    page.screenshot(path=os.path.join(ARTIFACTS, "app-form-error.png"))
    assert "outlier" not in ds.count_sample_tags()  # nothing ran

    # Fixed, it runs: progress, the success notification, results in the grid.
    score.fill("browser_score")
    expect(page.get_by_text("Refusing to write")).to_have_count(0, timeout=30_000)
    expect(execute).to_be_enabled()
    execute.click()
    expect(page.get_by_text("Scoring outliers")).to_be_visible(timeout=60_000)
    tagged = math.ceil(0.05 * n)
    expect(page.get_by_text(re.compile(r"Outliers: %d of %d samples tagged 'outlier'"
                                       % (tagged, n)))).to_be_visible(timeout=60_000)
    page.screenshot(path=os.path.join(ARTIFACTS, "app-form-done.png"))
    ds.reload()
    assert len(ds.match_tags("outlier")) == tagged and len(ds.exists("browser_score")) == n
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("sidebar-field-browser_score")).to_be_visible(timeout=30_000)
    # The new tag filters the grid from the sidebar.
    page.get_by_text("sample tags", exact=True).click()
    page.get_by_placeholder("+ filter by sample tag").press_sequentially("outl")
    page.get_by_test_id("selector-results-container-sidebar-search-tags").get_by_text(
        "outlier", exact=True).click()
    expect(_grid_count(page)).to_have_text(re.compile(r"^%d samples" % tagged),
                                           timeout=30_000)
    page.screenshot(path=os.path.join(ARTIFACTS, "app-form-tag-in-grid.png"))
    page.get_by_text("Reset", exact=True).click()
    expect(_grid_count(page)).to_contain_text("%d samples" % n, timeout=30_000)

    # ... and in the Winnow panel, whose rows come from the run records.
    content = _open_panel(page)
    expect(content).to_contain_text("Outliers: %d (" % tagged, timeout=60_000)
    expect(content).to_contain_text("%d outliers" % tagged)

    # Review: Accept writes the suggestion into the label the grid shows; Undo restores it.
    content.get_by_text("REVIEW", exact=True).scroll_into_view_if_needed()
    thumb = content.locator("img[src^='/media?filepath=']").first
    expect(thumb).to_be_visible(timeout=30_000)
    sample = ds[thumb.get_attribute("alt")]
    given, suggested = sample.ground_truth.label, sample.suggested_label.label
    assert given != suggested
    thumb.click()  # the grid shows that sample alone
    expect(_grid_count(page)).to_contain_text("1 sample", timeout=30_000)
    label = page.get_by_test_id("tag-ground_truth")
    expect(label).to_have_text(given, timeout=30_000)

    content.get_by_role("button", name="Accept").first.click()
    expect(label).to_have_text(suggested, timeout=30_000)
    page.screenshot(path=os.path.join(ARTIFACTS, "app-review-accepted.png"))
    sample.reload()
    assert sample.ground_truth.label == suggested

    content.get_by_role("button", name=re.compile("^Undo")).click()
    expect(label).to_have_text(given, timeout=30_000)
    sample.reload()
    assert sample.ground_truth.label == given


@pytest.fixture
def objects_dataset(tmp_path):
    """Real-image scenes with object vectors; object outliers (3) and object label
    issues on ``gt``; a 2-D map of the objects."""
    from test_panel import object_runs_dataset

    made = object_runs_dataset(tmp_path, "winnow-test-app-objects")
    ds = next(made)
    try:
        embedding_map.compute_map(ds, "embedding", patches_field="gt")
        yield ds
    finally:
        made.close()


def test_panel_shows_object_findings_and_loads_their_patches_view(objects_dataset, app_url,
                                                                  page):
    expect = playwright_api.expect
    ds = objects_dataset
    n_objects = ds.count("gt.detections")
    assert ds.count_label_tags("gt")["outlier"] == 3
    _open_dataset(page, app_url, ds)
    content = _open_panel(page)
    expect(content).to_contain_text("Winnow · " + ds.name, timeout=60_000)

    # The samples / objects switch: objects of gt.
    content.get_by_text("Objects of gt", exact=True).click()
    expect(content).to_contain_text("%s · %d objects of gt" % (ds.name, n_objects),
                                    timeout=60_000)
    expect(content).to_contain_text("Outliers: 3 of %d objects of gt (" % n_objects)
    issues = ds.count_label_tags("gt")["label_issue"]
    expect(content).to_contain_text("Label issues: %d of %d objects of gt (" % (issues,
                                                                             n_objects))
    # The review list shows flagged objects as crops (data URLs drawn by the panel).
    crops = content.locator("img[src^='data:image/png']")
    expect(crops.first).to_be_visible(timeout=30_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"img[src^='data:image/png']\")]"
        ".every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
    # The object runs' rows count objects.
    expect(content).to_contain_text("%d objects of gt, 3 outliers" % n_objects)
    # The map of the objects draws one marker per object; the object scores'
    # histograms draw their bars.
    expect(content).to_contain_text("All %d points (objects of gt)" % n_objects)
    plots = content.locator(".js-plotly-plot")
    expect(plots).to_have_count(3, timeout=30_000)
    expect(plots.first.locator(".scatterlayer path.point")).to_have_count(n_objects,
                                                                         timeout=30_000)
    expect(plots.nth(1).locator(".barlayer path").first).to_be_attached(timeout=30_000)
    assert _past_the_edge(content) == []
    content.screenshot(path=os.path.join(ARTIFACTS, "winnow-panel-objects.png"))

    # A narrower window (and panel): the plots refit, nothing runs past the edge.
    width = content.bounding_box()["width"]
    page.set_viewport_size({"width": 1100, "height": 1150})
    page.wait_for_function(
        "([w]) => { const c = document.querySelector('[data-cy=panel-content-winnow]');"
        " const r = c.getBoundingClientRect().width; return r < w && [...c.querySelectorAll("
        "'svg.main-svg')].every(s => s.getBoundingClientRect().width <= r); }",
        arg=[width], timeout=30_000)
    assert _past_the_edge(content) == []
    plots.first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    content.screenshot(path=os.path.join(ARTIFACTS, "winnow-panel-objects-narrow.png"))
    page.set_viewport_size({"width": 1700, "height": 1150})

    # A lasso over the left part of the map: the grid shows exactly those objects, as
    # patches (Plotly's own count of the points it selected).
    plots.first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    area = plots.first.locator(".nsewdrag").first.bounding_box()
    x0, y0 = area["x"] + 2, area["y"] + 2
    x1, y1 = area["x"] + 0.6 * area["width"], area["y"] + area["height"] - 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in [(x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()
    selected = plots.first.evaluate(
        "gd => gd.data.reduce((n, t) => n + (t.selectedpoints || []).length, 0)")
    assert 0 < selected < n_objects
    expect(_grid_count(page)).to_have_text(re.compile(r"^%d patches" % selected),
                                           timeout=30_000)
    page.screenshot(path=os.path.join(ARTIFACTS, "app-object-map-lasso.png"))

    # The finding's saved patches view, by its button: the grid shows the 3 objects.
    content.get_by_role("button", name="winnow-gt-outlier (3)").click()
    expect(page).to_have_url(re.compile(r"view=winnow-gt-outlier"), timeout=30_000)
    expect(_grid_count(page)).to_have_text(re.compile(r"^3 patches"), timeout=30_000)
    expect(page.get_by_test_id("error-boundary")).to_have_count(0)
    page.wait_for_timeout(1000)
    page.screenshot(path=os.path.join(ARTIFACTS, "app-object-outliers-patches.png"))
