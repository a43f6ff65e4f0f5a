"""A real browser: `streamlit run app.py` headless on loopback, Debian's Chromium driven by Selenium.

Runs the bundled example end to end, waits for the recommendation and saves a screenshot (to the test's
tmp folder; also to $ADVISOR_SCREENSHOT when set). Skipped locally without chromium + chromedriver;
in CI (ADVISOR_REQUIRE_SERVICES=1) a missing browser fails the run.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from testsupport import free_port, require_service

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1400,2200")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@contextlib.contextmanager
def running_app(tmp_path: Path, *options: str):
    """`streamlit run app.py` headless on a free loopback port; yields its URL."""
    port = free_port()
    log_path = tmp_path / f"streamlit-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", *options],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(), start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("streamlit did not start:\n" + log_path.read_text()[-3000:])
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def app_url(tmp_path):
    with running_app(tmp_path) as url:
        yield url


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        require_service("Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_new_user_clicks_the_example_dataset_and_reads_a_recommendation(app_url, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app_url)
    wait = WebDriverWait(browser, 120)
    example = wait.until(EC.element_to_be_clickable(
        (By.XPATH, "//label[.//p[normalize-space()='Bundled example']]")))
    example.click()
    # the live preview of the example's formatted prompts is there before anything is run
    wait.until(EC.presence_of_element_located((By.XPATH, "//*[contains(text(), 'Preview')]")))
    run = wait.until(EC.element_to_be_clickable(
        (By.XPATH, "//button[.//p[normalize-space()='Profile and rank base models']]")))
    run.click()
    heading = WebDriverWait(browser, 240).until(EC.visibility_of_element_located(
        (By.XPATH, "//h2[contains(., 'Recommendation for sentiment_reviews')]")))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Best base model" in body and "P(beat GPT-4)" in body
    assert "Chance that the fine-tuned model beats GPT-4" in body
    assert "Traceback" not in body
    # the charts (ranking with intervals) are drawn
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"))
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", heading)
    time.sleep(1.5)  # let the charts finish their first paint
    shot = tmp_path / "advisor-recommendation.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("ADVISOR_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["ADVISOR_SCREENSHOT"])


def test_an_oversized_or_unreadable_upload_gets_a_clear_message_and_no_trace(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    big = tmp_path / "big.csv"
    big.write_text("prompt,completion\n" + "a,b\n" * 600_000)  # about 2.4 MB
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"prompt,completion\nthis is a CSV, not Parquet\n")
    good = tmp_path / "good.csv"
    good.write_text("question,answer\n" + "".join(f"What is {i} + {i}?,{2 * i}\n" for i in range(20)))
    with running_app(tmp_path, "--server.maxUploadSize", "1") as url:
        browser.get(url)
        wait = WebDriverWait(browser, 120)
        wait.until(EC.element_to_be_clickable((By.XPATH, "//label[.//p[normalize-space()='Upload a file']]"))).click()
        wait.until(EC.presence_of_element_located((By.XPATH, "//p[contains(text(), 'Size limit: 1 MB per file')]")))
        file_input = (By.CSS_SELECTOR, "[data-testid='stFileUploader'] input[type='file']")
        wait.until(EC.presence_of_element_located(file_input)).send_keys(str(big))
        uploader = (By.CSS_SELECTOR, "[data-testid='stFileUploader']")
        wait.until(EC.text_to_be_present_in_element(uploader, "or smaller"))
        assert "must be 1.0MB or smaller" in browser.find_element(*uploader).text
        wait.until(EC.presence_of_element_located(file_input)).send_keys(str(broken))
        alert = (By.CSS_SELECTOR, "[data-testid='stAlert']")
        wait.until(EC.text_to_be_present_in_element(alert, "Cannot read this dataset"))
        assert "broken.parquet" in browser.find_element(*alert).text
        assert "Traceback" not in browser.find_element(By.TAG_NAME, "body").text
        # a readable file replaces it: its columns are offered and three examples previewed
        wait.until(EC.presence_of_element_located(file_input)).send_keys(str(good))
        wait.until(EC.presence_of_element_located((By.XPATH, "//*[contains(text(), 'Preview')]")))
        wait.until(EC.invisibility_of_element_located(alert))
        prompt_choice = browser.find_element(By.XPATH, "//*[@data-testid='stSelectbox'][contains(., 'Prompt column')]")
        assert "question" in prompt_choice.get_attribute("innerHTML")  # the question column was picked as prompt
