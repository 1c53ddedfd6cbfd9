"""How fast the attention explorer draws long sentences: render times the page itself measures.

    python scripts/bench_explorer.py                    # a tiny 6+6-layer, 8-head Transformer (random weights)
    python scripts/bench_explorer.py path/to/best.pt    # any served checkpoint
    python scripts/bench_explorer.py --repeats 5 --beam-size 1 --prefix-words 0

Starts nmt-serve on a free loopback port, opens the page in headless Chromium, translates a
60-word sentence and one of about 100 source pieces, then for each of them draws every layer
and head (and the average of heads), in whole words and in pieces, `--repeats` times. Figures
(milliseconds): `render`, the page's own performance.now() around building the matrix and
drawing it (window.nmtExplorer.lastRenderMs); `layout`, the same plus the style and layout of
the page it causes (forced right after drawing); `self`, drawing the self-attention panels of one source
and one target word (every layer and head). An untrained model writes until the length limit
(1.5 x source pieces + 10), so the matrices are as large as that limit allows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from tiny_checkpoint import PAIRS

BENCH_MODEL_CONFIG = {
    "_target_": "nmt.models.transformer.Transformer",
    "d_model": 32, "num_heads": 8, "num_encoder_layers": 6, "num_decoder_layers": 6, "ff_dim": 64,
    "dropout": 0.1, "attention_dropout": 0.0, "activation_dropout": 0.0, "norm": "pre",
    "positions": "learned", "max_positions": 256, "scale_embeddings": True, "tie_embeddings": "decoder",
}
MEASURE = """
const [repeats, done] = [arguments[0], arguments[arguments.length - 1]];
const explorer = window.nmtExplorer;
(async () => {
  const rows = [];
  for (const units of ["words", "pieces"]) {
    await explorer.setView({ units, layer: 0, head: "avg", src: null, tgt: null });
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (let layer = 0; layer < explorer.layers(); layer++) {
        for (const head of ["avg", ...Array.from({ length: explorer.heads() }, (_, h) => h)]) {
          const times = await explorer.setView({ layer, head });
          rows.push({ units, layer, head, render: times.renderMs, layout: times.layoutMs });
        }
      }
      const times = await explorer.setView({ src: 1, tgt: 1 });
      rows.push({ units, self: times.selfMs });
      await explorer.setView({ src: null, tgt: null });
    }
  }
  done({ rows, layers: explorer.layers(), heads: explorer.heads() });
})().catch((error) => done({ error: String(error) }));
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", nargs="?", help="a checkpoint to serve (default: a tiny 6+6-layer, 8-head one)")
    parser.add_argument("--repeats", type=int, default=5, help="draws of every layer and head per sentence and unit")
    parser.add_argument("--beam-size", type=int, default=4, help="beam size of the translations")
    parser.add_argument("--prefix-words", type=int, default=40,
                        help="target words forced as each translation's beginning (0: none), for tall matrices")
    args = parser.parse_args()
    chromium, chromedriver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        sys.exit("error: the benchmark drives headless Chromium: install chromium and chromedriver.")
    with tempfile.TemporaryDirectory(prefix="bench-explorer-") as scratch:
        checkpoint = Path(args.checkpoint) if args.checkpoint else tiny_checkpoint(Path(scratch))
        server, url = start_server(checkpoint)
        try:
            run(url, chromium, chromedriver, repeats=args.repeats, beam_size=args.beam_size,
                prefix=forced_beginning(args.prefix_words))
        finally:
            server.terminate()
            server.wait(timeout=30)


def tiny_checkpoint(directory: Path) -> Path:
    from tiny_checkpoint import build_tiny_checkpoint

    return build_tiny_checkpoint(directory, model_config=BENCH_MODEL_CONFIG)


def forced_beginning(words: int) -> str:
    """`words` target words to force as the translation's prefix: an untrained model may stop after a
    few pieces, and the benchmark wants matrices as tall as long sentences make them."""
    french = " ".join(target for _, target in PAIRS).split()
    return " ".join((french * (words // len(french) + 1))[:words])


def start_server(checkpoint: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "nmt.cli.serve", f"ckpt={checkpoint}", f"port={port}",
                               "device=cpu"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"error: nmt-serve exited {server.returncode}; run it by hand to see why: "
                     f"python -m nmt.cli.serve ckpt={checkpoint}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return server, url
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    server.kill()
    sys.exit("error: nmt-serve did not become ready within 180 s.")


def source_pieces(url: str, text: str) -> int:
    """How many pieces (with </s>) the served model reads for `text`."""
    request = urllib.request.Request(f"{url}/v1/translate", method="POST", headers={"content-type": "application/json"},
                                     data=json.dumps({"text": [text], "beam_size": 1}).encode())
    with urllib.request.urlopen(request, timeout=120) as response:
        return len(json.loads(response.read())["translations"][0]["source_pieces"])


def sentences(url: str) -> list[tuple[str, str]]:
    """(name, text): 60 words, and the most words whose pieces (without </s>) stay within 100."""
    words = " ".join(source for source, _ in PAIRS).split()
    words = (words * (200 // len(words) + 1))[:200]
    low, high = 1, len(words)
    while low < high:  # the longest prefix of `words` with at most 100 pieces
        middle = (low + high + 1) // 2
        if source_pieces(url, " ".join(words[:middle])) - 1 <= 100:
            low = middle
        else:
            high = middle - 1
    return [("60 words", " ".join(words[:60])), ("~100 pieces", " ".join(words[:low]))]


def headless_chromium(chromium: str, chromedriver: str, *, window: str = "1400,1000"):
    """Selenium driving Debian's Chromium and chromedriver, headless, downloading nothing."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window}"):
        options.add_argument(argument)
    options.binary_location = chromium
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_script_timeout(600)
    return driver


def open_view(driver, url: str, view: dict, *, seconds: float = 600) -> float:
    """Open the page with `view` in its hash (a permalink); wait until it has translated. Returns the seconds."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")  # a new hash alone would not reload the page
    started = time.perf_counter()
    driver.get(f"{url}/#{urllib.parse.urlencode(view)}")
    WebDriverWait(driver, seconds).until(lambda d: d.find_element("tag name", "body").get_attribute("data-state")
                                         in ("ready", "error"))
    if driver.find_element("tag name", "body").get_attribute("data-state") == "error":
        sys.exit(f"error: the page could not translate: {driver.find_element('css selector', '[role=alert]').text}")
    return time.perf_counter() - started


def run(url: str, chromium: str, chromedriver: str, *, repeats: int, beam_size: int, prefix: str) -> None:
    driver = headless_chromium(chromium, chromedriver)
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores), {platform.system()}; "
          f"browser: {driver.capabilities.get('browserVersion')}; repeats: {repeats}; beam {beam_size}; "
          f"forced beginning: {len(prefix.split())} words")
    try:
        for name, text in sentences(url):
            loaded = open_view(driver, url, {"text": text, "beam": beam_size, "nbest": 1, "prefix": prefix})
            shape = driver.execute_script("const t = window.nmtExplorer.translation(); "
                                          "return [t.source_pieces.length, t.hypotheses[0].target_pieces.length]")
            result = driver.execute_async_script(MEASURE, repeats)
            if "error" in result:
                sys.exit(f"error: measuring failed in the page: {result['error']}")
            report(name, shape, loaded, result)
    finally:
        driver.quit()


def report(name: str, shape: list[int], loaded: float, result: dict) -> None:
    sources, targets = shape
    print(f"\n{name}: {sources} source pieces (with </s>) x {targets} target pieces; "
          f"{result['layers']} layers x {result['heads']} heads + average; "
          f"translate + first draw {loaded:.1f} s")
    print(f"  {'units':<7} {'measure':<7} {'draws':>6} {'median':>8} {'min':>8} {'max':>8}  (ms)")
    for units in ("words", "pieces"):
        rows = [row for row in result["rows"] if row["units"] == units]
        for measure in ("render", "layout", "self"):
            values = [row[measure] for row in rows if row.get(measure) is not None]
            if values:
                print(f"  {units:<7} {measure:<7} {len(values):>6} {statistics.median(values):>8.2f} "
                      f"{min(values):>8.2f} {max(values):>8.2f}")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
