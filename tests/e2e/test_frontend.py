"""The page in headless Chromium (Debian's, driven by Playwright) against a real `bentoml serve`."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Site

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
POSITIVE = "A wonderful, superb and moving film with a brilliant, delightful cast."
NEGATIVE = "Dull, boring and tedious: an awful, lifeless mess with the worst script."


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = "Chromium is not installed (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run these, never skip them
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, service: str) -> Iterator[object]:  # noqa: ARG001 (the server the page calls)
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def predict(page, text: str) -> None:
    page.get_by_role("textbox", name="Review").fill(text)
    page.get_by_role("button", name="Predict").click()


def test_positive_and_negative_reviews_from_the_page_served_at_ui(page, service: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(f"{service}/ui/")
    predict(page, POSITIVE)
    result = page.get_by_role("region", name="Prediction")
    expect(result).to_be_visible()
    expect(result).to_contain_text("positive")
    expect(result).to_contain_text("% confident")
    expect(result).to_contain_text("tiny-sentiment:")
    expect(result).to_contain_text(re.compile(r"\d+ ms"))
    screenshot = tmp_path / "prediction.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nscreenshot after a prediction: {screenshot}")  # noqa: T201 (the path is this test's output)

    predict(page, NEGATIVE)
    expect(result).to_contain_text("negative")


def test_ctrl_enter_submits_and_examples_predict(page, service: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{service}/ui/")
    page.get_by_role("textbox", name="Review").fill(POSITIVE)
    page.get_by_role("textbox", name="Review").press("Control+Enter")
    expect(page.get_by_role("region", name="Prediction")).to_contain_text("positive")
    page.get_by_role("button", name=re.compile("^Dull, boring")).click()
    expect(page.get_by_role("region", name="Prediction")).to_contain_text("negative")


def test_empty_text_shows_the_apis_message(page, service: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{service}/ui/")
    predict(page, "   ")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("text is empty")
    expect(page.get_by_role("region", name="Prediction")).to_be_hidden()


def test_page_from_an_allowed_origin_calls_the_api(page, sites: dict[str, Site]) -> None:
    from playwright.sync_api import expect

    page.goto(f"{sites['allowed'].origin}/index.html")
    predict(page, POSITIVE)
    expect(page.get_by_role("region", name="Prediction")).to_contain_text("positive")


def test_page_from_a_disallowed_origin_says_so(page, sites: dict[str, Site]) -> None:
    from playwright.sync_api import expect

    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(f"{sites['denied'].origin}/index.html")
    predict(page, POSITIVE)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("does not accept requests from this page's address")
    expect(alert).to_contain_text("CORS")
    assert any("blocked by CORS policy" in message for message in messages)


def test_usable_at_phone_width_with_labels_and_focus_order(browser, service: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{service}/ui/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.keyboard.press("Tab")
        expect(page.get_by_role("textbox", name="Review")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Predict")).to_be_focused()
    finally:
        context.close()


def test_the_explanation_colours_the_words_and_lists_the_top_reasons(page, service: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{service}/ui/")
    predict(page, POSITIVE)
    why = page.get_by_role("region", name="Why the model said so")
    expect(why).to_be_visible()
    reasons = why.get_by_role("list", name="Top reasons").get_by_role("listitem")
    expect(reasons.first).to_contain_text("towards positive")
    assert 1 <= reasons.count() <= 8
    review = why.get_by_label("The review, its words coloured by their weight")
    expect(review).to_have_text(POSITIVE)  # the whole review, only coloured
    wonderful = review.get_by_role("mark").filter(has_text="wonderful")  # type: ignore[arg-type] (ARIA 1.3's)
    expect(wonderful).to_have_class("positive")
    expect(wonderful).to_have_attribute("title", re.compile(r"^\+\d+\.\d\d towards positive$"))
    expect(why).to_contain_text("the model's starting point")

    predict(page, NEGATIVE)
    expect(reasons.first).to_contain_text("towards negative")
    expect(review.get_by_role("mark").filter(has_text="boring")).to_have_class("negative")  # type: ignore[arg-type]
    strengths = review.get_by_role("mark").evaluate_all(  # type: ignore[arg-type]
        "marks => marks.map(mark => Number(mark.style.getPropertyValue('--strength')))"
    )
    assert max(strengths) == 1 and all(0 < strength <= 1 for strength in strengths)
