"""Fixtures shared by every test folder: tiny parallel corpora written into tmp_path."""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable
from pathlib import Path

import datasets
import pytest
import torch

from nmt.data.corpus import CorpusConfig

datasets.disable_progress_bars()  # keep test output readable
# Tiny models run many tiny operations: one thread computes them faster than two that wait on each
# other, and the suite's two worker processes (pytest -n 2) then share the cores without contention.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by the commands the tests start as subprocesses

GERMAN = "der die das ein eine mann frau hund katze kind haus baum auto ball sieht spielt läuft isst trinkt rot blau groß klein schnell im park am strand".split()
ENGLISH = "the the the a a man woman dog cat child house tree car ball sees plays runs eats drinks red blue big small fast in-the park on-the beach".split()


@pytest.fixture
def sigint_handled():
    """SIGINT with Python's default handler for the test, as in a shell's foreground: a test process started as
    a background job of a non-interactive shell inherits SIGINT ignored (POSIX), which nmt keeps ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _make_pairs(count: int, *, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        positions = [rng.randrange(len(GERMAN)) for _ in range(rng.randint(3, 9))]
        pairs.append((" ".join(GERMAN[i] for i in positions), " ".join(ENGLISH[i] for i in positions)))
    return pairs


def _write_parallel(directory: Path, stem: str, pairs: list[tuple[str, str]], langs: tuple[str, str] = ("de", "en")) -> None:
    for index, lang in enumerate(langs):
        (directory / f"{stem}.{lang}").write_text("".join(pair[index] + "\n" for pair in pairs), encoding="utf-8")


@pytest.fixture
def make_pairs() -> Callable[..., list[tuple[str, str]]]:
    """make_pairs(count, seed=...): word-aligned pseudo German/English pairs of 3-9 words."""
    return _make_pairs


@pytest.fixture
def write_parallel() -> Callable[..., None]:
    """write_parallel(directory, stem, pairs, langs=("de", "en")): {stem}.de + {stem}.en files."""
    return _write_parallel


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """train/valid/test .de/.en files with 300 / 20 / 20 pairs."""
    directory = tmp_path / "corpus"
    directory.mkdir()
    for stem, count, seed in (("train", 300, 0), ("valid", 20, 1), ("test", 20, 2)):
        _write_parallel(directory, stem, _make_pairs(count, seed=seed))
    return directory


@pytest.fixture
def local_corpus() -> Callable[..., CorpusConfig]:
    """local_corpus(directory, **overrides): the `local` preset's settings for a directory."""

    def build(directory: Path, **overrides) -> CorpusConfig:
        values = dict(
            name="tiny",
            source="local",
            src_lang="de",
            tgt_lang="en",
            local_dir=str(directory),
            local_splits={"train": "train", "validation": "valid", "test": "test"},
            local_format="auto",
            vocab_size=60,
            clean={"max_len": 50, "max_ratio": 3.0, "dedup": False},
        )
        values.update(overrides)
        return CorpusConfig(**values)

    return build


@pytest.fixture
def restore_torch_settings():
    """Training sets process-wide torch threads and determinism; leave other tests as they were."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
