"""prepare_corpus: cached stages, reuse, invalidation, atomic writes, the summary."""

from __future__ import annotations

import concurrent.futures
import errno
import logging
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from nmt.data import pipeline
from nmt.data.corpus import CorpusConfig, load_pairs
from nmt.data.pipeline import load_clean_pairs, prepare_corpus
from nmt.data.tokenizer import TokenizerConfig
from nmt.errors import NMTError

TOKENIZER = TokenizerConfig(model_type="unigram", vocab_size=60, joint=True, character_coverage=1.0,
                            input_sentence_size=100_000, seed=1, num_threads=1)


@pytest.fixture
def trainings(monkeypatch) -> list[TokenizerConfig]:
    """Count SentencePiece trainings (they still run)."""
    calls: list[TokenizerConfig] = []
    real = pipeline.train_tokenizer

    def counting(config, **kwargs):
        calls.append(config)
        return real(config, **kwargs)

    monkeypatch.setattr(pipeline, "train_tokenizer", counting)
    return calls


def test_second_prepare_reuses_pairs_tokenizer_and_token_ids(corpus_dir, local_corpus, tmp_path, trainings):
    corpus = local_corpus(corpus_dir)
    first = prepare_corpus(corpus, TOKENIZER, data_dir=tmp_path / "data")
    second = prepare_corpus(corpus, TOKENIZER, data_dir=tmp_path / "data")
    assert len(trainings) == 1
    assert second.cache_dir == first.cache_dir
    assert "(reused)" in second.summary and "(built)" in first.summary
    assert second.splits["train"]["src_ids"] == first.splits["train"]["src_ids"]
    assert second.tokenizer.to_state() == first.tokenizer.to_state()
    assert set(second.splits) == {"train", "validation", "test"} and second.pronoun_test is None
    assert second.splits["test"].column_names == ["src", "tgt", "src_ids", "tgt_ids"]


def test_files_beside_the_corpus_that_no_split_reads_leave_the_cache_reused(corpus_dir, local_corpus, tmp_path,
                                                                            trainings):
    corpus = local_corpus(corpus_dir)
    first = prepare_corpus(corpus, TOKENIZER, data_dir=tmp_path / "data")
    (corpus_dir / "train.log").write_text("a log redirected into the corpus folder\n", encoding="utf-8")
    (corpus_dir / "train.tok.de").write_text("der mann\n", encoding="utf-8")
    (corpus_dir / "test.tsv").write_text("not read: test.de and test.en are\tignored\n", encoding="utf-8")
    second = prepare_corpus(corpus, TOKENIZER, data_dir=tmp_path / "data")
    assert len(trainings) == 1 and second.cache_dir == first.cache_dir and "(reused)" in second.summary


def test_several_workers_write_the_same_cache_files_as_one(corpus_dir, local_corpus, write_parallel, make_pairs,
                                                           tmp_path, monkeypatch):
    # Over 2,000 pairs in batches of 700, some dropped: batches, worker shares and the 1,000-row
    # record batches of the saved splits all start at different rows.
    pairs = make_pairs(2345, seed=3)
    pairs[10], pairs[1500] = ("", "lost"), ("eins zwei drei vier fünf sechs sieben", "one")
    write_parallel(corpus_dir, "train", pairs)
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 0)  # the small splits get workers too
    monkeypatch.setattr(pipeline, "TOKENIZE_BATCH", 700)
    monkeypatch.setattr(pipeline, "CLEAN_BATCH", 700)
    pools = []
    real_pool = concurrent.futures.ProcessPoolExecutor

    def recording_pool(max_workers, *args, **kwargs):
        pools.append(max_workers)
        return real_pool(max_workers, *args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", recording_pool)
    one = prepare_corpus(local_corpus(corpus_dir, num_workers=1), TOKENIZER, data_dir=tmp_path / "one")
    assert pools == []
    two = prepare_corpus(local_corpus(corpus_dir, num_workers=2, clean={"max_len": 50, "max_ratio": 3.0, "dedup": True}),
                         TOKENIZER, data_dir=tmp_path / "two")
    assert pools == [2, 2]  # cleaning, then tokenizing, each in two worker processes
    dedup_one = prepare_corpus(local_corpus(corpus_dir, num_workers=1, clean={"max_len": 50, "max_ratio": 3.0, "dedup": True}),
                               TOKENIZER, data_dir=tmp_path / "one")
    assert len(dedup_one.splits["train"]) < len(one.splits["train"]) == 2343  # make_pairs repeats some pairs
    assert dedup_one.cache_dir.relative_to(tmp_path / "one") == two.cache_dir.relative_to(tmp_path / "two")
    for split in ("train", "validation", "test"):
        for stage in (dedup_one.cache_dir.parent / "pairs", dedup_one.cache_dir / "tokenized"):
            files = sorted((stage / split).glob("data-*.arrow"))
            twin = tmp_path / "two" / stage.relative_to(tmp_path / "one") / split
            assert files and [f.read_bytes() for f in files] == [(twin / f.name).read_bytes() for f in files]
    assert not (two.cache_dir / "ids").exists() and not list(two.cache_dir.parent.glob("*/raw"))


def test_cleaned_pairs_and_token_ids_are_the_rules_and_the_tokenizer_applied_to_the_files(
        corpus_dir, local_corpus, write_parallel, make_pairs, tmp_path, monkeypatch):
    pairs = make_pairs(1200, seed=4)
    pairs[7] = ("ein  hund\tim park", "a dog  in-the park")  # whitespace to collapse
    pairs[8] = ("x" * 81, "one word of 81 characters")
    write_parallel(corpus_dir, "train", pairs)
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 0)
    monkeypatch.setattr(pipeline, "TOKENIZE_BATCH", 256)
    monkeypatch.setattr(pipeline, "CLEAN_BATCH", 256)
    corpus = local_corpus(corpus_dir, num_workers=2, clean={"max_len": 8, "max_ratio": 2.0, "dedup": True, "max_chars": 80})
    prepared = prepare_corpus(corpus, TOKENIZER, data_dir=tmp_path)
    expected, seen = [], set()
    for src, tgt in pairs:  # the rules of nmt.data.clean, written out one pair at a time
        src, tgt = " ".join(src.split()), " ".join(tgt.split())
        words = sorted((len(src.split()), len(tgt.split())))
        if words[1] > 8 or max(len(src), len(tgt)) > 80 or words[1] > 2.0 * words[0] or (src, tgt) in seen:
            continue
        seen.add((src, tgt))
        expected.append((src, tgt))
    train = prepared.splits["train"]
    assert list(zip(train["src"], train["tgt"])) == expected and ("ein hund im park", "a dog in-the park") in expected
    assert train["src_ids"] == prepared.tokenizer.encode_src([src for src, _ in expected])
    assert train["tgt_ids"] == prepared.tokenizer.encode_tgt([tgt for _, tgt in expected])


def exit_in_the_worker(item: int) -> int:
    """Dies like a worker the system kills for memory (module level: it must reach the worker)."""
    if item == 3:
        os._exit(9)
    return item


def test_a_worker_that_dies_is_one_error_not_a_hang():
    with pipeline._batch_map(2) as map_batches:
        results = map_batches(exit_in_the_worker, range(8))
        with pytest.raises(NMTError, match=r"worker process of nmt-prepare died .*fewer data\.num_workers"):
            list(results)


def test_results_come_in_order_with_a_bounded_read_ahead():
    consumed = []

    def items():
        for item in range(20):
            consumed.append(item)
            yield item

    with pipeline._batch_map(2) as map_batches:
        results = map_batches(abs, items())
        assert next(results) == 0 and len(consumed) == 4  # 2 workers x 2 batches read ahead
        assert list(results) == list(range(1, 20))


def test_a_local_corpus_is_streamed_into_memory_mapped_arrow_files(corpus_dir, local_corpus, tmp_path):
    loaded = load_pairs(local_corpus(corpus_dir), cache_dir=tmp_path / "hub", work_dir=tmp_path / "stream")
    for split, dataset in loaded.items():
        assert [Path(f["filename"]) for f in dataset.cache_files] == [tmp_path / "stream" / f"{split}.arrow"]
    assert loaded["train"][0]["src"] == (corpus_dir / "train.de").read_text(encoding="utf-8").splitlines()[0]


def test_token_ids_match_the_tokenizer_and_are_stored_compactly(corpus_dir, local_corpus, tmp_path):
    prepared = prepare_corpus(local_corpus(corpus_dir), TOKENIZER, data_dir=tmp_path)
    row = prepared.splits["validation"][3]
    assert row["tgt_ids"] == prepared.tokenizer.encode_tgt([row["tgt"]])[0]
    assert prepared.splits["train"].features["src_ids"].feature.dtype == "int16"


def test_changed_tokenizer_setting_retrains_but_keeps_the_cleaned_pairs(corpus_dir, local_corpus, tmp_path, trainings):
    corpus = local_corpus(corpus_dir)
    unigram = prepare_corpus(corpus, TOKENIZER, data_dir=tmp_path)
    bpe = prepare_corpus(corpus, replace(TOKENIZER, model_type="bpe"), data_dir=tmp_path)
    assert len(trainings) == 2
    assert bpe.cache_dir != unigram.cache_dir and bpe.cache_dir.parent == unigram.cache_dir.parent
    assert "cleaned pairs reused, tokenizer trained" in bpe.summary
    assert unigram.cache_dir.is_dir()  # the other model stays available


def test_changed_cleaning_or_edited_file_rebuilds_the_pairs(corpus_dir, local_corpus, tmp_path):
    base = prepare_corpus(local_corpus(corpus_dir), TOKENIZER, data_dir=tmp_path)
    stricter = prepare_corpus(local_corpus(corpus_dir, clean={"max_len": 5, "max_ratio": 3.0, "dedup": False}), TOKENIZER, data_dir=tmp_path)
    assert stricter.cache_dir.parent != base.cache_dir.parent
    assert len(stricter.splits["train"]) < len(base.splits["train"])

    with (corpus_dir / "train.de").open("a", encoding="utf-8") as de, (corpus_dir / "train.en").open("a", encoding="utf-8") as en:
        de.write("ein neuer satz\n")
        en.write("a new sentence\n")
    edited = prepare_corpus(local_corpus(corpus_dir), TOKENIZER, data_dir=tmp_path)
    assert len(edited.splits["train"]) == len(base.splits["train"]) + 1


def test_a_failed_run_leaves_the_existing_cache_untouched(corpus_dir, local_corpus, tmp_path, monkeypatch):
    corpus = local_corpus(corpus_dir)
    prepare_corpus(corpus, TOKENIZER, data_dir=tmp_path)
    snapshot = lambda: {path: path.is_file() and path.stat().st_mtime_ns for path in tmp_path.rglob("*")}
    before = snapshot()

    def broken(*args, **kwargs):
        raise RuntimeError("killed while training")

    monkeypatch.setattr(pipeline, "train_tokenizer", broken)
    with pytest.raises(RuntimeError):
        prepare_corpus(corpus, replace(TOKENIZER, vocab_size=50), data_dir=tmp_path)
    assert snapshot() == before  # no new folder, no scratch left behind, no file rewritten


def test_disk_full_while_writing_a_cache_is_one_error_and_leaves_the_existing_cache_untouched(
        corpus_dir, local_corpus, tmp_path, monkeypatch):
    corpus = local_corpus(corpus_dir)
    prepare_corpus(corpus, TOKENIZER, data_dir=tmp_path)
    snapshot = {path: path.is_file() and path.stat().st_mtime_ns for path in tmp_path.rglob("*")}

    def disk_full(path, value):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pipeline, "_write_json", disk_full)
    with pytest.raises(NMTError) as error:
        prepare_corpus(corpus, replace(TOKENIZER, vocab_size=50), data_dir=tmp_path)
    pairs_dir = next(tmp_path.glob("tiny.de-en.*"))
    assert re.fullmatch(rf"cannot write the data cache {re.escape(str(pairs_dir))}/unigram50-joint\.[0-9a-f]{{12}}: "
                        r"No space left on device; free space or choose another paths\.data_dir\.", str(error.value))
    assert {path: path.is_file() and path.stat().st_mtime_ns for path in tmp_path.rglob("*")} == snapshot
    monkeypatch.undo()
    assert "(reused)" in prepare_corpus(corpus, TOKENIZER, data_dir=tmp_path).summary


def test_bad_input_is_reported_before_anything_is_written(corpus_dir, local_corpus, tmp_path):
    (corpus_dir / "test.en").write_text("only one line\n", encoding="utf-8")
    with pytest.raises(NMTError, match="differ in length"):
        prepare_corpus(local_corpus(corpus_dir), TOKENIZER, data_dir=tmp_path / "data")
    assert not any((tmp_path / "data").glob("tiny*"))


def test_summary_reports_counts_per_rule_vocabulary_lengths_cache_and_time(corpus_dir, local_corpus, write_parallel, make_pairs, tmp_path):
    pairs = make_pairs(300, seed=0)
    pairs[5] = ("", "orphan")
    pairs[6] = ("eins zwei drei vier fünf sechs sieben", "one")  # 7 words against 1
    write_parallel(corpus_dir, "train", pairs)
    summary = prepare_corpus(local_corpus(corpus_dir), TOKENIZER, data_dir=tmp_path).summary
    lines = {line.split()[0]: line for line in summary.splitlines()}
    assert lines["split"].split()[:8] == ["split", "loaded", "empty", "too_long", "too_many_chars", "ratio", "duplicate", "kept"]
    assert lines["train"].split()[:8] == ["train", "300", "1", "0", "0", "1", "0", "298"]
    assert lines["validation"].split()[:8] == ["validation", "20", "0", "-", "-", "-", "-", "20"]
    assert lines["cleaning"].startswith("cleaning    train only: max_len=50 words, max_chars=None characters, max_ratio=3.0")
    assert "pieces (joint unigram; pad=0 unk=1 bos=2 eos=3)" in lines["vocabulary"]
    assert lines["sentencepiece"] == "sentencepiece trained on 298 of 298 train pairs (tokenizer.input_sentence_size=100,000)"
    assert str(tmp_path) in lines["cache"] and re.fullmatch(r"time +[\d.]+ s \([\d,]+ pairs/s loaded\)", lines["time"])


def test_each_stage_logs_its_wall_and_cpu_seconds(corpus_dir, local_corpus, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="nmt.data.pipeline"):
        prepare_corpus(local_corpus(corpus_dir), TOKENIZER, data_dir=tmp_path)
    stages = [match.group(1) for message in caplog.messages
              if (match := re.fullmatch(r"stage=(\w+) seconds=[\d.]+ cpu_seconds=[\d.]+", message))]
    assert stages == ["read", "clean", "save_pairs", "sentencepiece", "tokenize", "save_tokens"]


def test_sample_corpus_comes_with_a_tokenized_pronoun_test(tmp_path):
    corpus = CorpusConfig(
        name="sample", source="sample", src_lang="en", tgt_lang="fr", vocab_size=200,
        sample_sizes={"train": 400, "validation": 20, "test": 20}, pronoun_test_size=16, seed=1,
        clean={"max_len": 80, "max_ratio": 3.0, "dedup": False},
    )
    prepared = prepare_corpus(corpus, replace(TOKENIZER, vocab_size=200), data_dir=tmp_path)
    assert prepared.pronoun_test is not None and len(prepared.pronoun_test) == 16
    row = prepared.pronoun_test[0]
    assert row["contrast_ids"] == prepared.tokenizer.encode_tgt([row["contrast"]])[0] != row["tgt_ids"]
    assert "pronoun_test" in prepared.summary


def test_load_clean_pairs_gives_text_only(corpus_dir, local_corpus, tmp_path):
    pairs = load_clean_pairs(local_corpus(corpus_dir), data_dir=tmp_path)
    assert pairs["test"].column_names == ["src", "tgt"] and len(pairs["test"]) == 20
    assert not list(tmp_path.glob("tiny*/unigram*"))  # no tokenizer trained


def test_tokenizer_sees_at_most_input_sentence_size_train_pairs(corpus_dir, local_corpus, tmp_path, monkeypatch):
    seen: list[int] = []
    real = pipeline.train_tokenizer

    def recording(config, *, src_sentences, tgt_sentences):
        seen.append(len(src_sentences))
        return real(config, src_sentences=src_sentences, tgt_sentences=tgt_sentences)

    monkeypatch.setattr(pipeline, "train_tokenizer", recording)
    prepare_corpus(local_corpus(corpus_dir), replace(TOKENIZER, input_sentence_size=120), data_dir=tmp_path)
    assert seen == [120]
    assert os.listdir(tmp_path)  # and the result was cached
