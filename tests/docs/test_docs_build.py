"""The documentation site builds with `mkdocs build --strict`: every page, link, anchor and image resolves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        # not --quiet: it hides the warnings that --strict counts
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        check=False, cwd=REPO, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return site_dir


def test_every_command_has_a_page_with_its_options_table(site):
    for command in ["prepare", "train", "evaluate", "translate", "export", "average", "analyze", "serve"]:
        html = (site / "commands" / command / "index.html").read_text(encoding="utf-8")
        assert "<table>" in html and "<!-- config:" not in html, command  # the marker was replaced


def test_the_configuration_reference_lists_the_configs(site):
    html = (site / "configuration-reference" / "index.html").read_text(encoding="utf-8")
    assert "configs/serve.yaml" in html and "trainer.batch_tokens" in html


def test_every_image_resolves_and_nothing_is_fetched_from_elsewhere(site):
    pages = list(site.rglob("*.html"))
    images = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for source in re.findall(r'<img[^>]* src="([^"]+)"', html):
            images += 1
            assert (page.parent / source).resolve().is_file(), f"{page.relative_to(site)}: {source}"
        assert not re.findall(r'<(?:link|script)[^>]* (?:href|src)="(?:https?:)?//', html), page.relative_to(site)
    assert images >= 10  # the figures of reports/ and the explorer's screenshot
