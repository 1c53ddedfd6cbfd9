"""Every corpus source (local text/gz/TSV/JSONL, Hub layouts, sample) and every bad-input error."""

from __future__ import annotations

import gzip
import json
import socket
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nmt.data import corpus as corpus_module
from nmt.data.corpus import CorpusConfig, load_pairs
from nmt.errors import NMTError

MULTI30K = Path(__file__).parents[2] / ".." / "shared" / "data" / "multi30k"


def pairs_of(dataset) -> list[tuple[str, str]]:
    return list(zip(dataset["src"], dataset["tgt"]))


def hub_corpus(name: str, **overrides) -> CorpusConfig:
    values = dict(
        name="hub-test",
        source="hub",
        hub_name=name,
        splits={"train": "train", "validation": "validation", "test": "test"},
        src_lang="de",
        tgt_lang="en",
        vocab_size=100,
        clean={"max_len": 50, "max_ratio": None, "dedup": False},
    )
    values.update(overrides)
    return CorpusConfig(**values)


@pytest.fixture
def hub_online(monkeypatch) -> list[tuple[str, int]]:
    """Replace only the network boundary, the reachability probe; record what it was asked."""
    probes: list[tuple[str, int]] = []

    def reachable(host: str, port: int, *, timeout: float) -> bool:
        probes.append((host, port))
        return True

    monkeypatch.setattr(corpus_module, "can_connect", reachable)
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    return probes


# ----------------------------------------------------------------------------- local files


def test_local_text_files_load_every_split_in_the_configured_direction(corpus_dir, local_corpus, make_pairs, tmp_path):
    pairs = load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path / "hub")
    assert {split: len(pairs[split]) for split in pairs} == {"train": 300, "validation": 20, "test": 20}
    assert pairs_of(pairs["validation"]) == make_pairs(20, seed=1)

    reversed_pairs = load_pairs(local_corpus(corpus_dir, src_lang="en", tgt_lang="de"), cache_dir=tmp_path / "hub")
    assert pairs_of(reversed_pairs["test"]) == [(en, de) for de, en in make_pairs(20, seed=2)]


def test_gzip_files_read_like_plain_ones(corpus_dir, local_corpus, tmp_path):
    plain = load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path)
    for path in corpus_dir.glob("train.*"):
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    zipped = load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path)
    assert pairs_of(zipped["train"]) == pairs_of(plain["train"])


def test_tsv_and_both_jsonl_layouts_give_the_same_pairs(tmp_path, local_corpus, make_pairs):
    expected = {stem: make_pairs(5, seed=index) for index, stem in enumerate(("train", "valid", "test"))}
    layouts = {
        "tsv": lambda src, tgt: f"{src}\t{tgt}",
        "jsonl": lambda src, tgt: json.dumps({"src": src, "tgt": tgt}, ensure_ascii=False),
        "translation": lambda src, tgt: json.dumps({"translation": {"en": tgt, "de": src}}),
    }
    for layout, line in layouts.items():
        directory = tmp_path / layout
        directory.mkdir()
        suffix = "tsv" if layout == "tsv" else "jsonl"
        for stem, pairs in expected.items():
            (directory / f"{stem}.{suffix}").write_text("".join(line(*pair) + "\n" for pair in pairs), encoding="utf-8")
        loaded = load_pairs(local_corpus(directory), cache_dir=tmp_path)
        assert pairs_of(loaded["train"]) == expected["train"], layout
        assert pairs_of(loaded["test"]) == expected["test"], layout


def test_local_split_stems_map_raw_release_names(tmp_path, local_corpus, write_parallel, make_pairs):
    for stem in ("train", "val", "test_2016_flickr"):
        write_parallel(tmp_path, stem, make_pairs(3, seed=0))
    stems = {"train": "train", "validation": "val", "test": "test_2016_flickr"}
    loaded = load_pairs(local_corpus(tmp_path, local_splits=stems), cache_dir=tmp_path / "hub")
    assert sorted(loaded) == ["test", "train", "validation"]
    assert len(loaded["validation"]) == 3


def test_windows_line_endings_and_unicode_line_separators_keep_alignment(tmp_path, local_corpus):
    for stem in ("train", "valid", "test"):
        (tmp_path / f"{stem}.de").write_bytes("eins\u2028zwei\r\ndrei\r\n".encode())
        (tmp_path / f"{stem}.en").write_bytes(b"one two\nthree\n")
    loaded = load_pairs(local_corpus(tmp_path), cache_dir=tmp_path / "hub")
    assert pairs_of(loaded["train"]) == [("eins\u2028zwei", "one two"), ("drei", "three")]


def test_parallel_files_of_different_lengths_name_both_files_and_counts(corpus_dir, local_corpus, tmp_path):
    with (corpus_dir / "valid.en").open("a", encoding="utf-8") as extra:
        extra.write("one line too many\n")
    with pytest.raises(NMTError, match=r"valid\.de has 20 lines but .*valid\.en has 21"):
        load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path)


def test_invalid_utf8_names_the_file_and_line(corpus_dir, local_corpus, tmp_path):
    lines = (corpus_dir / "test.de").read_bytes().split(b"\n")
    lines[6] = b"stra\xdfe"  # Latin-1 sharp s
    (corpus_dir / "test.de").write_bytes(b"\n".join(lines))
    with pytest.raises(NMTError, match=r"test\.de line 7 is not valid UTF-8"):
        load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path)


def test_empty_corpus_file_is_one_error_naming_it(corpus_dir, local_corpus, tmp_path):
    (corpus_dir / "test.en").write_bytes(b"")
    with pytest.raises(NMTError, match=r"test\.en is empty; a corpus file holds one sentence per line"):
        load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path)


def test_nul_byte_in_a_corpus_file_names_the_line(corpus_dir, local_corpus, tmp_path):
    lines = (corpus_dir / "valid.de").read_bytes().split(b"\n")
    lines[2] = b"der\x00hund"
    (corpus_dir / "valid.de").write_bytes(b"\n".join(lines))
    with pytest.raises(NMTError, match=r"valid\.de line 3 holds a NUL byte \(column 4\)"):
        load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path)


def test_byte_order_mark_and_crlf_never_reach_a_sentence(tmp_path, local_corpus):
    for stem in ("train", "valid", "test"):
        (tmp_path / f"{stem}.tsv").write_bytes(b"\xef\xbb\xbfein hund\ta dog\r\nzwei\ttwo\r\n")
    loaded = load_pairs(local_corpus(tmp_path), cache_dir=tmp_path / "hub")
    assert pairs_of(loaded["test"]) == [("ein hund", "a dog"), ("zwei", "two")]


def test_damaged_gzip_is_one_error_naming_the_file(corpus_dir, local_corpus, tmp_path):
    zipped = gzip.compress((corpus_dir / "train.de").read_bytes())
    (corpus_dir / "train.de.gz").write_bytes(zipped[:10] + b"\xff" * 20 + zipped[30:])
    (corpus_dir / "train.de").unlink()
    with pytest.raises(NMTError, match=r"cannot read \S*train\.de\.gz: .*check that the file is complete"):
        load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path)


@pytest.mark.parametrize(("record", "expected"), [
    ('{"src": "hund\\u0000", "tgt": "dog"}', r"line 2 holds a NUL character"),
    ('{"src": "hund", "tgt": "\\ud800"}', r"line 2 holds \\ud800, an unpaired surrogate"),
    ('{"src": 1' + "0" * 5000 + '}', r"line 2 is not valid JSON \(ValueError: Exceeds the limit"),
    ("[" * 100_000, r"line 2 is not valid JSON \(RecursionError"),
])
def test_jsonl_values_that_are_not_text_name_the_line(tmp_path, local_corpus, record, expected):
    for stem in ("train", "valid", "test"):
        (tmp_path / f"{stem}.jsonl").write_text('{"src": "katze", "tgt": "cat"}\n' + record + "\n", encoding="utf-8")
    with pytest.raises(NMTError, match=r"train\.jsonl " + expected):
        load_pairs(local_corpus(tmp_path), cache_dir=tmp_path / "hub")


def test_missing_split_says_which_and_lists_what_exists(corpus_dir, local_corpus, tmp_path):
    for path in corpus_dir.glob("valid.*"):
        path.rename(path.with_name(path.name.replace("valid", "dev")))
    with pytest.raises(NMTError, match=r"no files for split 'validation'.*found: .*dev\.\{de,en\}.*local_splits\.validation"):
        load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path)


def test_missing_language_lists_the_languages_found(corpus_dir, local_corpus, tmp_path):
    with pytest.raises(NMTError, match=r"no train\.fr\[\.gz\].*languages found for train: de, en"):
        load_pairs(local_corpus(corpus_dir, tgt_lang="fr"), cache_dir=tmp_path)


def test_tsv_line_without_a_tab_names_the_line(tmp_path, local_corpus):
    for stem in ("train", "valid", "test"):
        (tmp_path / f"{stem}.tsv").write_text("ein hund\ta dog\nkein tab hier\n", encoding="utf-8")
    with pytest.raises(NMTError, match=r"train\.tsv line 2 has 1 tab-separated fields"):
        load_pairs(local_corpus(tmp_path), cache_dir=tmp_path / "hub")


def test_jsonl_line_without_the_languages_names_the_line(tmp_path, local_corpus):
    for stem in ("train", "valid", "test"):
        (tmp_path / f"{stem}.jsonl").write_text('{"de": "hund", "en": "dog"}\n{"de": "katze", "fr": "chat"}\n', encoding="utf-8")
    with pytest.raises(NMTError, match=r"train\.jsonl line 2 has neither src/tgt keys nor 'de'/'en'"):
        load_pairs(local_corpus(tmp_path), cache_dir=tmp_path / "hub")


@pytest.mark.skipif(not MULTI30K.is_dir(), reason="the raw Multi30k release is not next to the repository")
def test_real_multi30k_release_loads_29000_1014_1000_pairs(tmp_path):
    preset = dict(
        name="multi30k", source="hub", hub_name="bentrevett/multi30k",
        splits={"train": "train", "validation": "validation", "test": "test"},
        src_lang="de", tgt_lang="en", vocab_size=8000, local_dir=str(MULTI30K),
        local_splits={"train": "train", "validation": "val", "test": "test_2016_flickr"},
        clean={"max_len": 80, "max_ratio": 3.0, "dedup": False},
    )
    loaded = load_pairs(CorpusConfig(**preset), cache_dir=tmp_path)
    assert {split: len(loaded[split]) for split in loaded} == {"train": 29000, "validation": 1014, "test": 1000}


# ----------------------------------------------------------------------------- the Hub


def write_hub_parquet(directory: Path, rows: dict[str, list[tuple[str, str]]], *, nested: bool) -> None:
    """A dataset folder as load_dataset reads it: one Parquet file per split."""
    directory.mkdir(parents=True)
    for split, pairs in rows.items():
        if nested:
            table = pa.table({"translation": [{"de": de, "en": en} for de, en in pairs]})
        else:
            table = pa.table({"en": [en for _, en in pairs], "de": [de for de, _ in pairs], "id": list(range(len(pairs)))})
        pq.write_table(table, directory / f"{split}.parquet")


def test_hub_translation_column_layout(tmp_path, hub_online, make_pairs):
    rows = {split: make_pairs(4, seed=index) for index, split in enumerate(("train", "validation", "test"))}
    write_hub_parquet(tmp_path / "wmt-like", rows, nested=True)
    loaded = load_pairs(hub_corpus(str(tmp_path / "wmt-like")), cache_dir=tmp_path / "cache")
    assert pairs_of(loaded["validation"]) == rows["validation"]
    assert loaded["train"].column_names == ["src", "tgt"]
    assert len(hub_online) == 1  # the reachability probe ran before loading


def test_hub_one_column_per_language_layout(tmp_path, hub_online, make_pairs):
    rows = {split: make_pairs(4, seed=index) for index, split in enumerate(("train", "validation", "test"))}
    directory = tmp_path / "multi30k-like"
    directory.mkdir()
    for split, pairs in rows.items():  # JSON Lines this time
        lines = (json.dumps({"en": en, "de": de}) for de, en in pairs)
        (directory / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_pairs(hub_corpus(str(directory), src_lang="en", tgt_lang="de"), cache_dir=tmp_path / "cache")
    assert pairs_of(loaded["validation"]) == [(en, de) for de, en in rows["validation"]]


def test_hub_parquet_export_layout_is_read_through_data_dir(tmp_path, hub_online, make_pairs):
    # The layout of a Hub Parquet export (refs/convert/parquet): {config}/{split}/0000.parquet.
    root = tmp_path / "export"
    for index, split in enumerate(("train", "validation", "test")):
        (root / "iwslt2017-de-en" / split).mkdir(parents=True)
        pairs = make_pairs(3, seed=index)
        pq.write_table(pa.table({"translation": [{"de": de, "en": en} for de, en in pairs]}),
                       root / "iwslt2017-de-en" / split / "0000.parquet")
    (root / "iwslt2017-fr-en" / "train").mkdir(parents=True)  # another pair that must not leak in
    pq.write_table(pa.table({"translation": [{"fr": "chat", "en": "cat"}]}), root / "iwslt2017-fr-en" / "train" / "0000.parquet")
    loaded = load_pairs(hub_corpus(str(root), hub_data_dir="iwslt2017-de-en"), cache_dir=tmp_path / "cache")
    assert pairs_of(loaded["test"]) == make_pairs(3, seed=2)


def test_hub_missing_language_or_split_lists_what_exists(tmp_path, hub_online, make_pairs):
    rows = {split: make_pairs(2, seed=0) for split in ("train", "validation", "test")}
    write_hub_parquet(tmp_path / "ds", rows, nested=False)
    with pytest.raises(NMTError, match=r"has no language 'fr' \(data.tgt_lang\); languages found: en, de, id"):
        load_pairs(hub_corpus(str(tmp_path / "ds"), tgt_lang="fr"), cache_dir=tmp_path / "cache")
    splits = {"train": "train", "validation": "valid", "test": "test"}
    with pytest.raises(NMTError, match=r"no split 'valid' for data.splits.validation; its splits are: train, validation, test"):
        load_pairs(hub_corpus(str(tmp_path / "ds"), splits=splits), cache_dir=tmp_path / "cache")


def test_unreachable_hub_fails_in_seconds_naming_the_dataset_and_offline_options(tmp_path, monkeypatch):
    from huggingface_hub import constants

    with socket.socket() as probe:  # a port nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port}")
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    start = time.perf_counter()
    with pytest.raises(NMTError) as error:
        load_pairs(hub_corpus("bentrevett/multi30k"), cache_dir=tmp_path)
    assert time.perf_counter() - start < 3.0
    message = str(error.value)
    assert "'bentrevett/multi30k'" in message
    assert "data.local_dir=" in message and "data=sample" in message


def test_reachability_probe_is_bounded_by_its_timeout_even_when_name_resolution_hangs(monkeypatch):
    def stuck_resolver(address, timeout):
        time.sleep(2)
        raise OSError("name resolution timed out")

    monkeypatch.setattr(socket, "create_connection", stuck_resolver)
    start = time.perf_counter()
    assert not corpus_module.can_connect("huggingface.co", 443, timeout=0.3)
    assert time.perf_counter() - start < 1.5


# ----------------------------------------------------------------------------- sample


def sample_corpus(**overrides) -> CorpusConfig:
    values = dict(
        name="sample", source="sample", src_lang="en", tgt_lang="fr", vocab_size=500,
        sample_sizes={"train": 300, "validation": 40, "test": 40}, pronoun_test_size=30, seed=3,
        clean={"max_len": 80, "max_ratio": 3.0, "dedup": False},
    )
    values.update(overrides)
    return CorpusConfig(**values)


def test_sample_corpus_is_deterministic_disjoint_and_has_a_pronoun_test(tmp_path):
    first = load_pairs(sample_corpus(), cache_dir=tmp_path)
    second = load_pairs(sample_corpus(), cache_dir=tmp_path)
    assert {split: len(first[split]) for split in first} == {"train": 300, "validation": 40, "test": 40, "pronoun_test": 30}
    for split in first:
        assert first[split].to_list() == second[split].to_list()
    train_sources = set(first["train"]["src"])
    assert not train_sources & set(first["test"]["src"])
    pronouns = first["pronoun_test"]
    assert all(tgt != contrast for tgt, contrast in zip(pronouns["tgt"], pronouns["contrast"]))
    other_seed = load_pairs(sample_corpus(seed=4), cache_dir=tmp_path)
    assert other_seed["train"]["src"] != first["train"]["src"]


def test_sample_reversed_direction_swaps_columns_and_rejects_other_languages(tmp_path):
    forward = load_pairs(sample_corpus(), cache_dir=tmp_path)
    backward = load_pairs(sample_corpus(src_lang="fr", tgt_lang="en"), cache_dir=tmp_path)
    assert backward["test"]["src"] == forward["test"]["tgt"]
    assert "pronoun_test" not in backward
    with pytest.raises(NMTError, match=r"data=sample is en-fr"):
        load_pairs(sample_corpus(src_lang="de"), cache_dir=tmp_path)


# ----------------------------------------------------------------------------- config


def test_config_errors_name_the_key_and_the_valid_options():
    good = dict(sample_corpus().to_dict())
    with pytest.raises(NMTError, match=r"unknown config key data\.srclang; valid keys are: name, source"):
        CorpusConfig.from_dict({**good, "srclang": "en"})
    with pytest.raises(NMTError, match=r"data\.source='hubb' is not a valid choice; valid choices are: hub, local, sample"):
        CorpusConfig.from_dict({**good, "source": "hubb"})
    with pytest.raises(NMTError, match=r"data\.clean\.max_len='long' has the wrong type; expected int or null"):
        CorpusConfig.from_dict({**good, "clean": {"max_len": "long", "max_ratio": None, "dedup": False}})
    with pytest.raises(NMTError, match=r"data=local needs data\.local_dir=DIR"):
        CorpusConfig.from_dict({**good, "source": "local"})
    assert CorpusConfig.from_dict(good) == sample_corpus()
