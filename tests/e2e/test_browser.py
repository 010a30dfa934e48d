"""The app in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium.

Starts ``app.py`` on a free loopback port with the real embedded models, then: Chat (paste a TweetSumm dialog,
see a summary), Knowledge base (upload the sample playbook), Audit (see a findings table), Batch (upload a small
CSV, get the result files). Screenshots of each tab go to ``$SUPPORTLENS_SCREENSHOTS`` (default: the test's tmp
folder); ``docs/screenshots/`` holds a committed set. Marked ``browser`` and ``real_model``; skipped with a reason
when Chromium or its driver is missing (``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assistant.local_server import free_port

pytestmark = [pytest.mark.browser, pytest.mark.real_model]
REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "knowledge_base" / "samples" / "brightline-social-care-playbook.md"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NAMED_TRANSCRIPT = (  # written for this test: a chat export with names and timestamps, not labels
    "[10:32 AM] Dana Whitfield: Hi, my XR-500 router drops the connection every hour since yesterday.\n"
    "[10:33 AM] Marco (Support): Sorry about that, Dana! Is the light on the front blinking orange?\n"
    "[10:35 AM] Dana Whitfield: Yes, orange, then it comes back after a minute.\n"
    "[10:36 AM] Marco (Support): Thanks. I've pushed a firmware fix to your router; restart it tonight and it "
    "should stay connected. Reply here if it drops again.\n")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    port = free_port()
    env = {**os.environ, "SUPPORTLENS_KB": str(tmp / "kb"), "SUPPORTLENS_DATA": str(tmp / "data"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(tmp / "app.log", "w")
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port)], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited: {(tmp / 'app.log').read_text()[-2000:]}")
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("app.py did not start within 240 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("Chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SUPPORTLENS_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wait(driver, condition, timeout: float = 240):  # noqa: ANN001, ANN202
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(lambda d: condition(d))


def _tab(driver, name: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    _wait(driver, lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text == name])[0].click()
    time.sleep(0.5)


def _css(driver, selector: str):  # noqa: ANN001, ANN202
    from selenium.webdriver.common.by import By

    return _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, selector), timeout=30)[0]


def _text(driver, selector: str) -> str:  # noqa: ANN001
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(10):  # the page may re-render between finding the elements and reading them
        try:
            return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, selector))
        except StaleElementReferenceException:
            time.sleep(0.2)
    raise AssertionError(f"{selector} kept changing while being read")


def _no_error_toast(driver) -> None:  # noqa: ANN001
    """Fail on any error toast the test did not ask for (Gradio shows gr.Error as a toast)."""
    errors = [t for t in _text(driver, "[data-testid=toast-body].error").split("\n") if t.strip()]
    assert not errors, f"unexpected error toast: {errors}"


def _fill(driver, selector: str, text: str) -> None:  # noqa: ANN001
    """Set a textarea's value like a paste (send_keys cannot type emoji, which TweetSumm dialogs have)."""
    element = _css(driver, selector)
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));", element, text)


def test_manager_workflow_in_a_browser(app_url, browser, shots, tweetsumm_dir, tmp_path):
    from selenium.webdriver.common.keys import Keys

    from training.tweetsumm import load_split

    dialog = load_split("test", tweetsumm_dir, limit=1)[0].to_text()
    browser.get(app_url)

    # Chat: a transcript as a chat tool exports it (names and timestamps): the app shows who it took for whom
    # before any model runs, then summarizes it.
    _fill(browser, "#chat-box textarea", NAMED_TRANSCRIPT)
    _wait(browser, lambda d: "Who is who" in _text(d, "#chat-roles"), timeout=30)
    roles = _text(browser, "#chat-roles")
    assert "Dana Whitfield: customer" in roles and "Marco: agent" in roles, roles
    assert "XR-500" in _text(browser, "#chat-turns")
    browser.execute_script("document.querySelector('#chat-agents').scrollIntoView()")
    browser.save_screenshot(str(shots / "chat_roles.png"))
    browser.execute_script("window.scrollTo(0, 0)")
    _no_error_toast(browser)
    _css(browser, "#chat-send").click()
    _wait(browser, lambda d: "Support check" in _text(d, "#chat [data-testid=bot]"), timeout=120)  # summary checked
    named_summary = _text(browser, "#chat [data-testid=bot]").lower()
    assert "router" in named_summary or "xr-500" in named_summary or "connection" in named_summary, named_summary
    _css(browser, "#chat-clear").click()
    _wait(browser, lambda d: not _text(d, "#chat [data-testid=bot]"), timeout=30)

    # Chat: paste a TweetSumm dialog, a summary streams into the chat.
    _fill(browser, "#chat-box textarea", dialog)
    _css(browser, "#chat-send").click()
    _wait(browser, lambda d: _text(d, "#chat [data-testid=bot]"))  # streaming started
    _wait(browser, lambda d: "Support check" in _text(d, "#chat [data-testid=bot]"), timeout=120)  # summary checked
    summary = _text(browser, "#chat [data-testid=bot]")
    assert "watchlist" in summary.lower() or "episode" in summary.lower(), summary
    assert "Support check" in summary  # each sentence checked against the conversation, on by default
    # A follow-up question, answered from the conversation.
    n_bot = len(browser.find_elements("css selector", "#chat [data-testid=bot]"))
    _fill(browser, "#chat-question textarea", "What problem did the customer report?")
    _css(browser, "#chat-ask").click()
    _wait(browser, lambda d: len(d.find_elements("css selector", "#chat [data-testid=bot]")) > n_bot)
    _wait(browser, lambda d: _css(d, "#chat-question textarea").get_attribute("value") == "")  # answer complete
    answer = browser.find_elements("css selector", "#chat [data-testid=bot]")[-1].text
    assert any(w in answer.lower() for w in ("watchlist", "episode", "show", "update")), answer
    browser.save_screenshot(str(shots / "chat.png"))
    _no_error_toast(browser)

    # Knowledge base: upload the sample playbook for a new organisation.
    _tab(browser, "Knowledge base")
    org = _css(browser, "#kb-org input")
    org.send_keys("brightline", Keys.ENTER)
    _wait(browser, lambda d: "no knowledge base yet" in _text(d, "#kb-status"), timeout=60)  # an invitation
    _no_error_toast(browser)
    _css(browser, "#kb-files input[type=file]").send_keys(str(PLAYBOOK))
    time.sleep(2)
    _css(browser, "#kb-build").click()
    _wait(browser, lambda d: "1 added" in _text(d, "#kb-status"))
    assert "G10" in _text(browser, "#kb-docs")
    browser.save_screenshot(str(shots / "knowledge_base.png"))
    _no_error_toast(browser)

    # Audit: the organisation is picked, paste a conversation, see the findings table.
    _tab(browser, "Audit")
    audit_org = _css(browser, "#audit-org input")
    if audit_org.get_attribute("value") != "brightline":
        audit_org.clear()
        audit_org.send_keys("brightline", Keys.ENTER)
    _css(browser, "#audit-box textarea").send_keys(
        "Customer: @Brightline my parcel never arrived, order 5521\n"
        "Agent: So sorry to hear that! Please DM us your order number and we'll check. ^JK")
    _css(browser, "#audit-run").click()
    _wait(browser, lambda d: "Compliance" in _text(d, "#audit-header"), timeout=400)
    findings = _text(browser, "#findings")
    assert any(v in findings for v in ("followed", "violated", "not_applicable")), findings
    browser.save_screenshot(str(shots / "audit.png"))
    _no_error_toast(browser)

    # Batch: upload a small CSV with one bad row, run, get the download files.
    _tab(browser, "Batch")
    csv_path = tmp_path / "batch-upload.csv"
    csv_path.write_text('id,conversation\nx1,"Customer: my parcel is late\nAgent: sorry, DM us the order number"\n'
                        'x2,"Agent: hello?"\n')
    _css(browser, "#batch-file input[type=file]").send_keys(str(csv_path))
    time.sleep(2)
    _css(browser, "#batch-run").click()
    _wait(browser, lambda d: "rows done" in _text(d, "#batch-status"))
    assert "1 of 2 rows done" in _text(browser, "#batch-status") and "row 3" in _text(browser, "#batch-status")
    files = _text(browser, "#batch-files").replace("\n", "")
    assert "results.csv" in files and "results.json" in files, files
    link = next(a.get_attribute("href") for a in browser.find_elements("css selector", "#batch-files a")
                if (a.get_attribute("href") or "").endswith("results.csv"))
    downloaded = urllib.request.urlopen(link, timeout=30).read().decode()  # what the browser's download gets
    assert downloaded.startswith("row,id,summary") and "x1" in downloaded and "row 3" in downloaded
    browser.save_screenshot(str(shots / "batch.png"))
    _no_error_toast(browser)

    _tab(browser, "Evaluation")
    _wait(browser, lambda d: "110 TweetSumm" in _text(d, "body"), timeout=30)
    picked = _css(browser, "#eval-pick input").get_attribute("value")
    assert picked.startswith("eval/results/"), picked  # named relative to the repository, not a machine path
    browser.save_screenshot(str(shots / "evaluation.png"))
    _no_error_toast(browser)
