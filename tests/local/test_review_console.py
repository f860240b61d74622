"""The review console in a real browser: headless Debian Chromium driven by Playwright opens the LOCAL
console of a running local workflow (`LocalReview`: the review server in front of the real review API
function, against the moto-hosted workflow), sees the images waiting, decides each with the keyboard
(B, M, R), and every execution ends as decided. A key like `<img src=x onerror=alert(1)>.png` is shown
as text: no element is made from it and no script runs."""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from scones.local.iam_enforcement import enforce_iam
from scones.local.review_session import LocalReview
from scones.local.runtime import LocalWorkflow, list_images


ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
CHROMIUM = "/usr/bin/chromium"  # Debian's (make install puts it there); Playwright's own download is not used
CONTEXT = {"confidence_threshold": 0.9999, "audit_sample_rate": 0}  # every image waits for a reviewer
HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"
TOKEN = "browser-test-token"
UI_TIMEOUT_MS = 60_000  # for page actions and expect() assertions alike: generous, a loaded machine is slow


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("console-images")
    names = [line.split("\t")[2].strip() for line in (SAMPLE / "train.lst").read_text().splitlines() if line.strip()]
    (root / "driver 1").mkdir()
    shutil.copyfile(SAMPLE / "train" / names[0], root / "driver 1" / names[0])
    shutil.copyfile(SAMPLE / "train" / names[1], root / "driver 1" / names[1])
    shutil.copyfile(SAMPLE / "train" / names[2], root / HOSTILE_NAME)
    return root


def test_a_reviewer_decides_in_the_browser_and_each_driver_is_routed(tiny_model_path, tmp_path, images):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    files = list_images(images)
    hostile_key = "incoming/" + HOSTILE_NAME
    with LocalWorkflow(tiny_model_path, tmp_path / "work", context=CONTEXT) as workflow, \
            enforce_iam(workflow.assembly, workflow.aws.resolver) as iam, \
            LocalReview(workflow, port=0, token=TOKEN, log=lambda message: None) as review:
        announced, outcomes, failures = [], [], []

        def run() -> None:
            try:
                outcomes.extend(workflow.run(files, images, concurrency=3, hold_reviews=True,
                                             release=review.release, on_waiting=announced.append))
            except BaseException as exc:  # reported below
                failures.append(exc)

        runner = threading.Thread(target=run, daemon=True)
        runner.start()
        deadline = time.monotonic() + 180
        while len(announced) < len(files) and not failures:
            assert time.monotonic() < deadline, f"only {len(announced)} of {len(files)} images wait for a reviewer"
            time.sleep(0.1)
        assert not failures, failures
        try:
            decided = drive_the_console(review.console_url, hostile_key, len(files))
        finally:
            review.release.set()  # whatever happened, let the run end
            runner.join(timeout=120)
        assert not failures, failures
        assert not iam.take_denials()

    assert sorted(o.key for o in outcomes) == sorted(o.key for o in announced), "one outcome per input"
    by_key = {o.key: o for o in outcomes}
    assert decided[hostile_key] == "reject"
    for key, label in decided.items():
        outcome = by_key[key]
        assert outcome.decided_by == "reviewer", outcome
        if label == "reject":
            assert (outcome.outcome, outcome.reason_code, outcome.reason) == (
                "quarantined", "rejected_by_reviewer", "not a vehicle")
        else:
            assert (outcome.outcome, outcome.label) == ("routed", label), outcome


def drive_the_console(console_url: str, hostile_key: str, waiting: int) -> dict[str, str]:
    """Decide every waiting image in the console with the keyboard; key -> label decided."""
    args = ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root (CI runs as root)
    decided: dict[str, str] = {}
    # expect() assertions have their own timeout (5 s by default), which a loaded 2-core machine
    # exceeded while the page's first API call was answered: give them the actions' timeout.
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            page = browser.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            dialogs, errors = [], []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(console_url)
            expect(page.locator("#waiting")).to_have_text(f"{waiting} images waiting")
            labels = iter(["bicycle", "motorcycle"])
            for left in range(waiting, 0, -1):
                expect(page.locator("#review")).to_be_visible()
                key = page.locator("#key").text_content()
                # the photo itself, through the server's signed link
                page.wait_for_function("() => { const i = document.getElementById('image');"
                                       " return i.complete && i.naturalWidth > 0; }")
                if key == hostile_key:
                    assert "&lt;img src=x onerror=alert(1)&gt;" in page.locator("#key").inner_html()
                    assert page.locator("img[src='x']").count() == 0, "the key became markup"
                    page.locator("#note").fill("not a vehicle")
                    page.keyboard.press("Escape")  # leave the note field: keys decide again
                    page.keyboard.press("r")
                    decided[key] = "reject"
                else:
                    label = next(labels)
                    page.keyboard.press(label[0])
                    decided[key] = label
                after = left - 1
                expect(page.locator("#waiting")).to_have_text(
                    "1 image waiting" if after == 1 else f"{after} images waiting")
            expect(page.locator("#empty")).to_be_visible()
            assert dialogs == [] and errors == [], (dialogs, errors)
        finally:
            browser.close()
    return decided
