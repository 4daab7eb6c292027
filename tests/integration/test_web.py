"""The operators' page in headless Chromium against the real app (real Redis, real models)."""
import shutil

import pytest

from samples.photos import encode_jpeg, photo_files, three_face_frame
from scripts.pypi_assets import ROOT

KEY = "web-test-key"
ARTIFACTS = ROOT / "results" / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    server = live_server(api_keys=(KEY,))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept(page.dialog_answer) if dialog.type == "prompt" else dialog.accept())
    page.dialog_answer = ""
    page.goto(server.url)
    yield page
    context.close()


def enroll(page, name, files):
    page.fill("#enroll-name", name)
    page.set_input_files("#enroll-files", [str(f) for f in files])
    page.click("#enroll-form button")


def test_enroll_recognize_and_manage_people_through_the_page(page, tmp_path):
    from playwright.sync_api import expect

    # the page asks for the key once, then works
    expect(page.locator("#key-form")).to_be_visible()
    page.fill("#api-key", KEY)
    page.click("#key-form button")
    expect(page.locator("#key-form")).to_be_hidden()

    enroll(page, "Madonna", photo_files("madonna", "train")[:2])
    expect(page.locator("#enroll-result")).to_have_text("Enrolled Madonna: 2 face(s) found.")
    enroll(page, "Jerry", photo_files("jerry_seinfeld", "train")[:2])
    expect(page.locator("#enroll-result")).to_have_text("Enrolled Jerry: 2 face(s) found.")
    expect(page.locator("#people .person-name")).to_have_text(["Jerry", "Madonna"])

    blank = tmp_path / "blank.jpg"
    blank.write_bytes(encode_jpeg(__import__("numpy").full((200, 200, 3), 128, "uint8")))
    enroll(page, "Nobody", [blank])
    expect(page.locator("#enroll-result")).to_contain_text("no face found")
    expect(page.locator("#people > li")).to_have_count(2)

    frame = tmp_path / "door.jpg"
    frame.write_bytes(encode_jpeg(three_face_frame()))  # Ben (not enrolled), Madonna, Jerry
    page.set_input_files("#recognize-file", str(frame))
    result = page.locator("#recognize-result")
    expect(result).to_contain_text("3 face(s)")
    shown = result.inner_text()
    assert "Madonna" in shown and "Jerry" in shown and "unknown" in shown
    expect(page.locator("#recognize-canvas")).to_be_visible()
    expect(page.locator("#events .event-name", has_text="Madonna").first).to_be_visible()
    expect(page.locator("#events .event-name", has_text="unknown").first).to_be_visible()
    again = tmp_path / "door-again.jpg"   # the same three people a moment later: the same three visits
    again.write_bytes(encode_jpeg(three_face_frame(), quality=85))
    page.set_input_files("#recognize-file", str(again))
    expect(page.locator("#events li.visit", has_text="Madonna")).to_contain_text("visit · 2 frames")
    expect(page.locator("#events li.visit")).to_have_count(3)   # one row per visit, not per frame
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)

    madonna = page.locator("#people > li", has_text="Madonna")
    page.dialog_answer = "Madonna Ciccone"
    madonna.locator("button.rename").click()
    expect(page.locator("#people .person-name")).to_have_text(["Jerry", "Madonna Ciccone"])
    madonna = page.locator("#people > li", has_text="Madonna Ciccone")
    madonna.locator("button.delete-face").first.click()
    expect(madonna.locator(".meta")).to_have_text("1 faces")
    madonna.locator("button.delete-person").click()
    expect(page.locator("#people .person-name")).to_have_text(["Jerry"])


def test_visitors_and_corrections_through_the_page(page, tmp_path):
    from playwright.sync_api import expect

    page.fill("#api-key", KEY)
    page.click("#key-form button")
    enroll(page, "Madonna", photo_files("madonna", "train")[:2])
    expect(page.locator("#enroll-result")).to_have_text("Enrolled Madonna: 2 face(s) found.")
    frame = tmp_path / "door.jpg"
    frame.write_bytes(encode_jpeg(three_face_frame()))  # Ben and Jerry unknown: two visitors; Madonna known
    page.set_input_files("#recognize-file", str(frame))
    expect(page.locator("#visitors-count")).to_have_text("(2)")
    expect(page.locator("#visitors > li").first).to_contain_text("1 sighting(s) · camera web page")
    expect(page.locator("#events .visitor-tag")).to_have_count(2)

    page.locator("#events li", has_text="Madonna").locator("button.not-person").click()
    expect(page.locator("#status")).to_have_text("Noted: not Madonna (1 negative example(s)).")
    page.dialog_answer = "madonna"  # an enrolled person's name, any case: the face is added to her
    page.locator("#events li", has_text="unknown").first.locator("button.this-is").click()
    expect(page.locator("#status")).to_have_text("Added to Madonna.")
    expect(page.locator("#people > li", has_text="Madonna").locator(".meta")).to_have_text("3 faces")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page-visitors.png"), full_page=True)

    page.dialog_answer = "Visitor One"  # a new name: the visitor becomes a person
    page.locator("#visitors > li").first.locator("button.name-visitor").click()
    expect(page.locator("#visitors-count")).to_have_text("(1)")
    expect(page.locator("#people .person-name")).to_have_text(["Madonna", "Visitor One"])
    page.locator("#visitors > li").first.locator("button.forget-visitor").click()
    expect(page.locator("#visitors-count")).to_have_text("(0)")
