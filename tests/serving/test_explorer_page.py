"""The attention explorer page in a real browser (headless Chromium) against a real nmt-serve.

One server serves a tiny Transformer and a tiny RNN (Bahdanau); one browser drives the page as a
person would: type a sentence, press Enter, hover and click words, steer, share the link, save the
page. What the page shows is checked against what POST /v1/translate answers directly.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("the explorer page tests drive a real browser: install chromium and chromedriver "
                "(apt-get install chromium chromium-driver)", allow_module_level=True)
pytest.importorskip("selenium", reason="the explorer page tests need selenium (pip install selenium)")

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait
from test_serve_cli import free_port, wait_until_ready
from tiny_checkpoint import RNN_MODEL_CONFIG, build_tiny_checkpoint

from nmt.serving.app import STATIC

REPO = Path(__file__).resolve().parents[2]
SENTENCE = "he drinks water because he is thirsty ."  # tiny_checkpoint.PAIRS; "he" is a source word
WAIT_S = 30
WORD_START = "\u2581"


# ---- the server, the browser, and what a person does with them ----------------------------

@pytest.fixture(scope="module")
def plain_checkpoint(tmp_path_factory) -> Path:
    """An RNN without attention (rnn_plain)."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("plain"), model_config={**RNN_MODEL_CONFIG, "attention": "none"})


@pytest.fixture(scope="module")
def server(transformer_checkpoint, rnn_checkpoint, plain_checkpoint):
    """nmt-serve on a free loopback port with three models: transformer, rnn (Bahdanau) and plain (no attention)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nmt.cli.serve", f"port={port}", "device=cpu", "threads=1",
         f"models={{transformer: {transformer_checkpoint}, rnn: {rnn_checkpoint}, plain: {plain_checkpoint}}}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, url, seconds=120)  # a loaded machine can take long to import torch
        yield url
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def driver():
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not download a browser or a driver
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.prompt_for_download": False,
                                              "profile.default_content_setting_values.automatic_downloads": 1})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def page(driver, server):
    """The explorer freshly opened, its models listed; the console's old messages read away."""
    driver.get(f"{server}/")
    wait_for(driver, lambda: body(driver).get_attribute("data-state") == "idle")
    driver.get_log("browser")
    return driver


def wait_for(driver, condition, seconds: float = WAIT_S):
    return WebDriverWait(driver, seconds).until(lambda _: condition())


def body(driver):
    return driver.find_element(By.TAG_NAME, "body")


def by_testid(driver, testid: str):
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def all_by_testid(driver, testid: str):
    return driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def translations_done(driver) -> int:
    return int(body(driver).get_attribute("data-translations") or 0)


def wait_for_translation(driver, before: int) -> None:
    wait_for(driver, lambda: translations_done(driver) > before or body(driver).get_attribute("data-state") == "error")
    assert body(driver).get_attribute("data-state") == "ready", by_testid(driver, "error").text


def translate(driver, text: str, *, model: str = "transformer", beam: int = 4, nbest: int = 3) -> None:
    """Choose the model and the search, type the sentence and press Enter; wait for the translation."""
    Select(by_testid(driver, "model-select")).select_by_value(model)
    for testid, value in (("beam-size", beam), ("nbest", nbest)):
        field = by_testid(driver, testid)
        field.clear()
        field.send_keys(str(value))
    before = translations_done(driver)
    box = by_testid(driver, "sentence")
    box.clear()
    box.send_keys(text, Keys.ENTER)
    wait_for_translation(driver, before)


def shown_matrix(driver) -> dict:
    """The matrix the page draws: {title, rows, cols, weights} (its exported state)."""
    return driver.execute_script("return window.nmtExplorer.matrix()")


def assert_console_clean(driver, *, allowed: tuple[str, ...] = ()) -> None:
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
              and not any(pattern in entry["message"] for pattern in allowed)]
    assert errors == []


def downloaded(directory: Path, pattern: str) -> Path | None:
    """The file matching `pattern` once the browser has finished writing it."""
    done = [path for path in directory.glob(pattern) if not path.name.endswith(".crdownload")]
    return done[0] if done and not [*directory.glob("*.crdownload")] else None


def api_translate(server: str, **body) -> dict:
    """POST /v1/translate directly: the one translation of body["text"][0]."""
    request = urllib.request.Request(f"{server}/v1/translate", method="POST", headers={"content-type": "application/json"},
                                     data=json.dumps({"return_attention": True, "return_scores": True, **body}).encode())
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        return json.loads(response.read())["translations"][0]


# ---- whole words, as the page's legend defines them ----------------------------------------

def word_units(pieces: list[str]) -> list[list[int]]:
    """Piece indices of each word: "▁" starts a word; </s>, <s> stand alone."""
    units: list[list[int]] = []
    for i, piece in enumerate(pieces):
        special = piece.startswith("<") and piece.endswith(">")
        if special or not units or pieces[units[-1][0]].startswith("<") or piece.startswith(WORD_START):
            units.append([i])
        else:
            units[-1].append(i)
    return units


def word_label(pieces: list[str], unit: list[int]) -> str:
    return "".join(pieces[i] for i in unit).replace(WORD_START, " ").strip() or WORD_START


def words_matrix(weights: list[list[float]], rows: list[list[int]], cols: list[list[int]]) -> list[list[float]]:
    """Summed over a column word's pieces, averaged over a row word's pieces."""
    return [[sum(weights[r][c] for r in row for c in col) / len(row) for col in cols] for row in rows]


def mean_of_heads(heads: list[list[list[float]]]) -> list[list[float]]:
    return [[sum(head[r][c] for head in heads) / len(heads) for c in range(len(heads[0][0]))]
            for r in range(len(heads[0]))]


def assert_close(shown: list[list[float]], expected: list[list[float]]) -> None:
    assert len(shown) == len(expected) and all(len(a) == len(b) for a, b in zip(shown, expected))
    assert all(math.isclose(a, b, abs_tol=1e-6) for row_a, row_b in zip(shown, expected) for a, b in zip(row_a, row_b))


def assert_rows_sum_to_1(weights: list[list[float]]) -> None:
    tolerance = 5e-5 * len(weights[0]) + 1e-6  # the API rounds each weight to 4 decimals
    assert all(abs(sum(row) - 1) <= tolerance for row in weights)


# ---- the tests -------------------------------------------------------------------------------

def test_the_static_files_reference_nothing_outside_the_server():
    files = [path for path in STATIC.rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {"index.html", "app.js", "api.js", "matrix.js", "selfattention.js",
                                              "confidence.js", "export.js", "viridis.js", "style.css"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://|//cdn|@import", text), f"{path.name} refers outside the server"


def test_a_translation_shows_its_nbest_list_and_a_matrix_whose_rows_sum_to_1(page, server, tmp_path):
    translate(page, SENTENCE, beam=4, nbest=3)
    answer = api_translate(server, model="transformer", text=[SENTENCE], beam_size=4, nbest=3)
    best = answer["hypotheses"][0]
    assert by_testid(page, "translation").text == best["text"]
    listed = all_by_testid(page, "hypothesis")
    assert [float(item.get_attribute("data-score")) for item in listed] == [h["score"] for h in answer["hypotheses"]]

    matrix = shown_matrix(page)
    assert "layer 2 of 2" in matrix["title"] and "average of 2 heads" in matrix["title"]
    assert_rows_sum_to_1(matrix["weights"])
    source, target = answer["source_pieces"], best["target_pieces"]
    rows, cols = word_units(target), word_units(source)
    assert matrix["cols"] == [word_label(source, unit) for unit in cols]
    assert matrix["cols"][-1] == "</s>" and matrix["rows"][-1] == "</s>"  # EOS kept apart
    last_layer = best["attention"]["cross"][-1]["weights"]
    assert_close(matrix["weights"], words_matrix(mean_of_heads(last_layer), rows, cols))

    Select(by_testid(page, "units-select")).select_by_value("pieces")
    Select(by_testid(page, "layer-select")).select_by_visible_text("layer 1")
    Select(by_testid(page, "head-select")).select_by_visible_text("head 2")
    matrix = shown_matrix(page)
    assert (matrix["rows"], matrix["cols"]) == (target, source)
    assert_close(matrix["weights"], best["attention"]["cross"][0]["weights"][1])
    assert len(all_by_testid(page, "target-label")) == len(target)
    assert float(by_testid(page, "matrix").get_attribute("data-render-ms")) >= 0

    listed[1].click()
    second = answer["hypotheses"][1]
    assert by_testid(page, "translation").text == second["text"]
    assert shown_matrix(page)["rows"] == second["target_pieces"]
    page.save_screenshot(str(tmp_path / "translated.png"))
    assert_console_clean(page)


def test_hovering_a_word_highlights_what_it_attends_to_most(page):
    translate(page, SENTENCE)
    matrix = shown_matrix(page)
    hover = ActionChains(page)
    target_labels = all_by_testid(page, "target-label")
    for r in (0, 2, len(target_labels) - 1):
        hover.move_to_element(target_labels[r]).perform()
        row = matrix["weights"][r]
        highlighted = page.find_elements(By.CSS_SELECTOR, '[data-testid="source-label"].highlight')
        assert [label.text for label in highlighted] == [matrix["cols"][row.index(max(row))]]

    source_labels = all_by_testid(page, "source-label")
    hover.move_to_element(source_labels[1]).perform()
    column = [row[1] for row in matrix["weights"]]
    highlighted = page.find_elements(By.CSS_SELECTOR, '[data-testid="target-label"].highlight')
    assert column.index(max(column)) in [int(label.get_attribute("data-index")) for label in highlighted]
    assert source_labels[1].text in by_testid(page, "cell-readout").text
    assert_console_clean(page)


def test_clicking_a_word_shows_its_self_attention_in_every_layer_and_head(page, server, tmp_path):
    translate(page, SENTENCE)
    answer = api_translate(server, model="transformer", text=[SENTENCE], beam_size=4, nbest=3)
    best = answer["hypotheses"][0]
    source = answer["source_pieces"]
    source_words = word_units(source)
    he = [word_label(source, unit) for unit in source_words].index("he")

    all_by_testid(page, "source-label")[he].click()
    panel = by_testid(page, "self-source")
    assert "“he”" in panel.find_element(By.CSS_SELECTOR, '[data-testid="self-title"]').text
    shown = panel.find_elements(By.CSS_SELECTOR, '[data-testid="self-head"]')
    expected = [(module["layer"], head, words_matrix(weights, [source_words[he]], source_words)[0])
                for module in best["attention"]["encoder_self"] for head, weights in enumerate(module["weights"])]
    assert len(shown) == len(expected) == 4  # 2 layers x 2 heads
    for row, (layer, head, weights) in zip(shown, expected):
        assert (int(row.get_attribute("data-layer")), int(row.get_attribute("data-head"))) == (layer, head)
        top = int(row.get_attribute("data-top-index"))
        assert math.isclose(weights[top], max(weights), abs_tol=1e-6)
        assert row.get_attribute("data-top") == word_label(source, source_words[top])
        assert row.text.split()[-2] == word_label(source, source_words[top])  # "head 1 <word> 0.42"

    # The keyboard reaches the target words too: focus one and press Enter.
    target_words = word_units(best["target_pieces"])
    all_by_testid(page, "target-label")[1].send_keys(Keys.ENTER)
    panel = by_testid(page, "self-target")
    inputs = best["attention"]["decoder_inputs"]
    input_words = word_units(inputs)
    shown = panel.find_elements(By.CSS_SELECTOR, '[data-testid="self-head"]')
    expected = [words_matrix(weights, [target_words[1]], input_words)[0]
                for module in best["attention"]["decoder_self"] for weights in module["weights"]]
    assert len(shown) == len(expected) == 4
    for row, weights in zip(shown, expected):
        assert math.isclose(weights[int(row.get_attribute("data-top-index"))], max(weights), abs_tol=1e-6)
    page.save_screenshot(str(tmp_path / "self-attention.png"))
    assert_console_clean(page)


def test_choosing_an_alternative_steers_the_translation_until_reset(page, server, tmp_path):
    translate(page, SENTENCE)
    original = by_testid(page, "translation").text
    answer = api_translate(server, model="transformer", text=[SENTENCE], beam_size=4, nbest=3)
    written = answer["hypotheses"][0]["target_pieces"]
    tokens = all_by_testid(page, "target-token")
    assert [token.get_attribute("data-piece") for token in tokens] == written
    position = 1
    tokens[position].click()
    choice = next(button for button in all_by_testid(page, "alternative")
                  if button.is_enabled() and button.get_attribute("data-piece") != written[position])
    piece = choice.get_attribute("data-piece")
    prefix = "".join(written[:position] + [piece]).replace(WORD_START, " ").strip()
    before = translations_done(page)
    choice.click()
    wait_for_translation(page, before)

    assert by_testid(page, "translation").text.startswith(prefix)
    assert prefix in by_testid(page, "steer-banner").text
    assert "prefix=" in page.current_url
    page.save_screenshot(str(tmp_path / "steered.png"))
    before = translations_done(page)
    by_testid(page, "reset-steer").click()
    wait_for_translation(page, before)
    assert not by_testid(page, "steer-banner").is_displayed()
    assert by_testid(page, "translation").text == original
    assert_console_clean(page)


def test_the_permalink_reproduces_the_view_in_a_new_page(page):
    translate(page, SENTENCE, beam=3, nbest=2)
    Select(by_testid(page, "units-select")).select_by_value("pieces")
    Select(by_testid(page, "layer-select")).select_by_visible_text("layer 1")
    Select(by_testid(page, "head-select")).select_by_visible_text("head 2")
    all_by_testid(page, "hypothesis")[1].click()
    all_by_testid(page, "source-label")[3].click()
    expected = {"translation": by_testid(page, "translation").text, "matrix": shown_matrix(page)}
    link = by_testid(page, "permalink").get_attribute("href")

    first = page.current_window_handle
    page.switch_to.new_window("tab")
    try:
        page.get(link)
        wait_for(page, lambda: translations_done(page) >= 1)
        assert by_testid(page, "translation").text == expected["translation"]
        assert shown_matrix(page) == expected["matrix"]
        assert by_testid(page, "nbest").get_attribute("value") == "2"
        assert all_by_testid(page, "source-label")[3].get_attribute("aria-pressed") == "true"
        assert by_testid(page, "self-source").find_elements(By.CSS_SELECTOR, '[data-testid="self-head"]')
        assert_console_clean(page)
    finally:
        page.close()
        page.switch_to.window(first)


def test_the_saved_html_opens_from_disk_without_a_server_and_the_png_is_a_png(page, tmp_path):
    page.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    translate(page, SENTENCE)
    all_by_testid(page, "source-label")[0].click()
    expected = {"translation": by_testid(page, "translation").text, "matrix": shown_matrix(page)}
    by_testid(page, "download-html").click()
    by_testid(page, "download-png").click()
    html = wait_for(page, lambda: downloaded(tmp_path, "attention-*.html"))
    png = wait_for(page, lambda: downloaded(tmp_path, "attention-*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = html.read_text(encoding="utf-8")
    assert "/static/" not in text and not re.search(r"https?://", text.replace(SENTENCE, ""))

    page.get(html.as_uri())
    wait_for(page, lambda: body(page).get_attribute("data-state") == "ready")
    assert by_testid(page, "translation").text == expected["translation"]
    assert shown_matrix(page) == expected["matrix"]
    assert by_testid(page, "offline-note").is_displayed()
    assert by_testid(page, "self-source").find_elements(By.CSS_SELECTOR, '[data-testid="self-head"]')
    Select(by_testid(page, "layer-select")).select_by_visible_text("layer 1")  # the views still work offline
    assert "layer 1 of 2" in shown_matrix(page)["title"]
    page.save_screenshot(str(tmp_path / "saved-copy.png"))
    assert_console_clean(page)


def test_an_rnn_shows_its_one_bahdanau_map_and_says_it_has_no_self_attention(page, tmp_path):
    translate(page, SENTENCE, model="rnn")
    assert "Bahdanau (additive)" in by_testid(page, "matrix-title").text
    assert not by_testid(page, "layer-select").is_displayed()
    assert not by_testid(page, "head-select").is_displayed()
    assert_rows_sum_to_1(shown_matrix(page)["weights"])
    all_by_testid(page, "source-label")[0].click()
    panel = by_testid(page, "self-source")
    assert panel.find_elements(By.CSS_SELECTOR, '[data-testid="self-head"]') == []
    assert "no self-attention" in panel.text
    page.save_screenshot(str(tmp_path / "rnn.png"))
    assert_console_clean(page)


def test_a_model_without_attention_says_so_instead_of_a_matrix(page):
    translate(page, SENTENCE, model="plain")
    assert "has no attention" in by_testid(page, "attention-message").text
    assert not by_testid(page, "matrix").is_displayed()
    assert not by_testid(page, "self-attention").is_displayed()
    assert all_by_testid(page, "target-token")  # its confidence is still shown
    assert_console_clean(page)


def test_a_request_the_server_refuses_shows_its_sentence(page):
    Select(by_testid(page, "model-select")).select_by_value("transformer")
    for testid, value in (("beam-size", 2), ("nbest", 5)):
        by_testid(page, testid).clear()
        by_testid(page, testid).send_keys(str(value))
    by_testid(page, "sentence").send_keys(SENTENCE)
    by_testid(page, "translate").click()
    wait_for(page, lambda: body(page).get_attribute("data-state") == "error")
    assert by_testid(page, "error").text == "nbest=5 exceeds beam_size=2; raise beam_size or lower nbest."
    assert_console_clean(page, allowed=("400 (Bad Request)",))
