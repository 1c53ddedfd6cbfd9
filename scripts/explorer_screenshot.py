"""A screenshot of the attention explorer on a checkpoint, for the README.

    python scripts/explorer_screenshot.py outputs/demo/checkpoints/best.pt reports/figures/explorer.png \
        --view text="The cow did not cross the bridge because it was too tired." src=8 units=words

Starts nmt-serve on a free loopback port, opens the page in headless Chromium at the permalink
the `--view` keys make (the keys of the page's URL: text, model, beam, nbest, prefix, hyp, layer,
head, units, src, tgt, pos; words and layers counted from 1), waits for the translation and saves
a PNG of the whole page.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bench_explorer import headless_chromium, open_view, start_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("output", type=Path, help="the PNG to write")
    parser.add_argument("--view", nargs="*", default=[], metavar="KEY=VALUE", help="the page's permalink keys")
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args()
    view = dict(item.split("=", 1) for item in args.view)
    chromium, chromedriver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        sys.exit("error: the screenshot needs headless Chromium: install chromium and chromedriver.")
    server, url = start_server(args.checkpoint)
    driver = headless_chromium(chromium, chromedriver, window=f"{args.width},1000")
    try:
        open_view(driver, url, view)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(args.width, height + 40)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.output))
        print(f"wrote {args.output} ({args.width} x {height} px)")
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
