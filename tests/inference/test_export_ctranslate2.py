"""nmt-export: a CTranslate2 export decodes like the checkpoint it came from, for every Transformer variant."""

from __future__ import annotations

import ast
import io
import random
import sys
from pathlib import Path

import pytest
import sacrebleu
import torch
from hydra import compose, initialize_config_module
from tiny_checkpoint import MODEL_CONFIG, PAIRS, build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (autouse)

ctranslate2 = pytest.importorskip("ctranslate2")

from nmt.checkpoint import Checkpoint, load_checkpoint
from nmt.cli.export import export
from nmt.cli.translate import translate
from nmt.data.batching import collate
from nmt.data.tokenizer import Tokenizer, TokenizerConfig, train_tokenizer
from nmt.errors import NMTError
from nmt.inference.ctranslate2_translation import CTranslate2Translator
from nmt.inference.export_ctranslate2 import export_ctranslate2
from nmt.inference.translation import Translator
from nmt.models import build_model
from nmt.tokens import PAD_ID

REPO = Path(__file__).parents[2]
WORDS = ["red", "blue", "green", "big", "small", "dog", "cat", "bird", "runs", "sleeps", "eats", "sees", "the", "a",
         "tree", "house"]
SEARCH = {"length_penalty": 1.0, "max_len_a": 1.5, "max_len_b": 5, "batch_tokens": 200, "max_src_tokens": None,
          "precision": "32"}


def reverse_pairs(count: int, *, seed: int) -> list[tuple[str, str]]:
    """The toy task: a random 3-8 word sentence and its words in reverse order."""
    rng = random.Random(seed)
    sentences = [[rng.choice(WORDS) for _ in range(rng.randint(3, 8))] for _ in range(count)]
    return [(" ".join(words), " ".join(reversed(words))) for words in sentences]


TEST_PAIRS = reverse_pairs(120, seed=1)
SOURCES = [source for source, _ in TEST_PAIRS]


def transformer_checkpoint(tokenizer: Tokenizer, model: torch.nn.Module, config: dict) -> Checkpoint:
    return Checkpoint(model_state=model.state_dict(), model_config=config, src_vocab_size=tokenizer.src_vocab_size,
                      tgt_vocab_size=tokenizer.tgt_vocab_size, tokenizer_state=tokenizer.to_state())


def train_reversal(model: torch.nn.Module, tokenizer: Tokenizer, *, steps: int) -> None:
    """Adam on batches of 32 fresh reverse pairs, teacher forcing."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=6e-3)
    model.train()
    for step in range(steps):
        pairs = reverse_pairs(32, seed=1000 + step)
        batch = collate(tokenizer.encode_src([s for s, _ in pairs]), tokenizer.encode_tgt([t for _, t in pairs]),
                        range(len(pairs)))
        logits = model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD_ID)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    config = TokenizerConfig(model_type="unigram", vocab_size=40, joint=True, character_coverage=1.0,
                             input_sentence_size=1000, seed=1, num_threads=1)
    train = reverse_pairs(200, seed=0)
    return train_tokenizer(config, src_sentences=[s for s, _ in train], tgt_sentences=[t for _, t in train])


@pytest.fixture(scope="module")
def trained(tokenizer, tmp_path_factory):
    """A D=32 Transformer trained for 120 steps on the reversal task (greedy BLEU ~30), and its float32 export."""
    config = {**MODEL_CONFIG, "d_model": 32, "num_heads": 4, "ff_dim": 64, "dropout": 0.0, "num_encoder_layers": 1,
              "num_decoder_layers": 1, "positions": "sinusoidal", "tie_embeddings": "all"}
    torch.manual_seed(0)
    model = build_model(config, src_vocab_size=tokenizer.src_vocab_size, tgt_vocab_size=tokenizer.tgt_vocab_size)
    train_reversal(model, tokenizer, steps=120)
    checkpoint = transformer_checkpoint(tokenizer, model, config)
    directory = export_ctranslate2(checkpoint, tmp_path_factory.mktemp("trained") / "ct2", quantization="float32")
    return model, checkpoint, directory


def translators(model, tokenizer, directory: Path, *, beam_size: int, compute: str = "32"):
    ours = Translator(model, tokenizer, beam_size=beam_size, **SEARCH)
    theirs = CTranslate2Translator(directory, beam_size=beam_size, device=torch.device("cpu"), threads=1,
                                   **{**SEARCH, "precision": compute})
    return ours, theirs


def agreement(first: list[str], second: list[str]) -> float:
    return sum(a == b for a, b in zip(first, second, strict=True)) / len(first)


def bleu(hypotheses: list[str]) -> float:
    return sacrebleu.corpus_bleu(hypotheses, [[target for _, target in TEST_PAIRS]]).score


def test_a_trained_model_and_its_export_agree_on_greedy_and_beam_search(trained, tokenizer):
    model, _, directory = trained
    greedy_ours, greedy_theirs = translators(model, tokenizer, directory, beam_size=1)
    ours, theirs = greedy_ours.translate(SOURCES), greedy_theirs.translate(SOURCES)
    assert bleu(ours) > 20  # the model has learned something: agreement is not between empty outputs
    assert agreement(ours, theirs) >= 0.99

    beam_ours, beam_theirs = translators(model, tokenizer, directory, beam_size=5)
    ours_nbest = beam_ours.translate_nbest(SOURCES, nbest=5)
    theirs_nbest = beam_theirs.translate_nbest(SOURCES, nbest=5)
    best_ours, best_theirs = [n[0].text for n in ours_nbest], [n[0].text for n in theirs_nbest]
    assert agreement(best_ours, best_theirs) >= 0.99
    assert abs(bleu(best_ours) - bleu(best_theirs)) <= 0.2
    same = [(a.score, b.score) for x, y in zip(ours_nbest, theirs_nbest) for a, b in zip(x, y) if a.tokens == b.tokens]
    assert len(same) >= 0.9 * 5 * len(SOURCES)  # the 5-best lists too, but for a few near-ties
    assert max(abs(a - b) for a, b in same) < 1e-3  # rescored and reranked with our GNMT penalty: the same numbers


def test_teacher_forced_scores_agree(trained, tokenizer):
    model, _, directory = trained
    ours, theirs = translators(model, tokenizer, directory, beam_size=1)
    targets = [target for _, target in TEST_PAIRS]
    differences = [abs(a - b) for a, b in zip(ours.score(SOURCES, targets), theirs.score(SOURCES, targets))]
    assert max(differences) < 1e-3


def test_an_int8_export_loads_and_translates_close_to_float32(trained, tokenizer, tmp_path):
    model, checkpoint, _ = trained
    directory = export_ctranslate2(checkpoint, tmp_path / "int8", quantization="int8")
    ours, theirs = translators(model, tokenizer, directory, beam_size=5)
    hypotheses = theirs.translate(SOURCES)
    assert all(hypotheses) and abs(bleu(hypotheses) - bleu(ours.translate(SOURCES))) < 5


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
@pytest.mark.parametrize("tie", ["none", "decoder", "all"])
def test_every_variant_exports_with_the_same_log_probs_and_greedy_outputs(norm, positions, tie, tokenizer, tmp_path):
    # Untrained and seeded: the weights differ from variant to variant, and so do the outputs per sentence.
    # (Beam search is compared on the trained model: on an untrained one, ~5 % of the mass sits on PAD and
    # BOS, which CTranslate2 renormalises away while searching, so its beams are pruned differently.)
    config = {**MODEL_CONFIG, "norm": norm, "positions": positions, "tie_embeddings": tie,
              "scale_embeddings": tie != "decoder"}
    torch.manual_seed(0)
    model = build_model(config, src_vocab_size=tokenizer.src_vocab_size, tgt_vocab_size=tokenizer.tgt_vocab_size)
    model.eval()
    directory = export_ctranslate2(transformer_checkpoint(tokenizer, model, config), tmp_path / "ct2",
                                   quantization="float32")
    ours, theirs = translators(model, tokenizer, directory, beam_size=1)
    sources, targets = SOURCES[:40], [target for _, target in TEST_PAIRS[:40]]
    differences = [abs(a - b) for a, b in zip(ours.score(sources, targets), theirs.score(sources, targets))]
    assert max(differences) < 1e-4
    hypotheses = ours.translate(sources)
    assert len(set(hypotheses)) >= 10
    assert agreement(hypotheses, theirs.translate(sources)) >= 0.99


def test_an_rnn_checkpoint_is_refused_with_one_sentence(tokenizer, tmp_path):
    config = {"_target_": "nmt.models.rnn.RNNSeq2Seq", "cell": "gru", "emb_dim": 16, "encoder_hidden_dim": 8,
              "decoder_hidden_dim": 16, "encoder_layers": 1, "decoder_layers": 1, "attention": "luong",
              "score": "general", "input_feeding": True, "bridge": True, "dropout": 0.0, "tie_embeddings": "none"}
    model = build_model(config, src_vocab_size=tokenizer.src_vocab_size, tgt_vocab_size=tokenizer.tgt_vocab_size)
    with pytest.raises(NMTError, match="CTranslate2 has no RNN decoder; translate it with nmt-translate"):
        export_ctranslate2(transformer_checkpoint(tokenizer, model, config), tmp_path / "ct2", quantization="int8")
    assert not (tmp_path / "ct2").exists()


def test_a_non_empty_output_directory_is_left_untouched(trained, tmp_path):
    _, checkpoint, _ = trained
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(NMTError, match="already exists and is not an empty directory"):
        export_ctranslate2(checkpoint, tmp_path, quantization="float32")
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def run_command(name: str, *overrides: str, stdin: str = "") -> str:
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        cfg = compose(name, overrides=list(overrides))
    if name == "export":
        return export(cfg)
    stdout = io.StringIO()
    translate(cfg, stdin=io.BytesIO(stdin.encode("utf-8")), stdout=stdout)
    return stdout.getvalue()


def test_the_commands_translate_an_export_as_they_translate_the_checkpoint(tmp_path):
    checkpoint, directory = build_tiny_checkpoint(tmp_path), tmp_path / "ct2"
    assert "nmt-translate ckpt=" in run_command("export", f"ckpt={checkpoint}", f"output={directory}")
    lines = "".join(source + "\n" for source, _ in PAIRS[:4])
    from_checkpoint = run_command("translate", f"ckpt={checkpoint}", "beam_size=3", "nbest=2", stdin=lines)
    assert run_command("translate", f"ckpt={directory}", "beam_size=3", "nbest=2", stdin=lines) == from_checkpoint
    assert from_checkpoint.count("|||") == 2 * 2 * 4
    assert (directory / "README.txt").read_text().count("ctranslate2.Translator") == 1
    assert {"src.model", "tgt.model", "model.bin"} <= {path.name for path in directory.iterdir()}


def test_nmt_imports_ctranslate2_only_inside_a_function():
    """So nmt-translate with a .pt checkpoint never loads it (nor its OpenMP runtime)."""
    for path in (REPO / "nmt").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nested = {id(node) for function in ast.walk(tree) if isinstance(function, ast.FunctionDef)
                  for node in ast.walk(function)}
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) else [])
            if any((name or "").split(".")[0] == "ctranslate2" for name in names):
                assert id(node) in nested, f"{path.relative_to(REPO)}:{node.lineno} imports ctranslate2 at import time"


def test_a_saved_checkpoint_exports_with_int8_float32_weights(tmp_path):
    directory = export_ctranslate2(load_checkpoint(build_tiny_checkpoint(tmp_path)), tmp_path / "ct2",
                                   quantization="int8_float32")
    theirs = CTranslate2Translator(directory, beam_size=2, device=torch.device("cpu"), threads=1, **SEARCH)
    assert len(theirs.translate([s for s, _ in PAIRS])) == len(PAIRS)


def test_a_missing_ctranslate2_package_is_one_line_naming_the_extra(trained, tmp_path, monkeypatch):
    _, checkpoint, _ = trained
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # `import ctranslate2` now raises ImportError
    with pytest.raises(NMTError, match=r'pip install -e "\.\[export\]"'):
        export_ctranslate2(checkpoint, tmp_path / "ct2", quantization="float32")


def prefixes_for(sources: list[str], *, seed: int) -> list[str]:
    """Line i gets, by i % 4: no prefix, its reference's first word, another word, or a word cut after 2 letters."""
    rng = random.Random(seed)
    kinds = [lambda s: "", lambda s: s.split()[-1], lambda s: rng.choice(WORDS), lambda s: rng.choice(WORDS)[:2]]
    return [kinds[i % len(kinds)](source) for i, source in enumerate(sources)]


@pytest.mark.parametrize("beam_size", [1, 5])
def test_an_export_forces_a_prefix_as_the_checkpoint_does(trained, tokenizer, beam_size):
    model, _, directory = trained
    ours, theirs = translators(model, tokenizer, directory, beam_size=beam_size)
    prefixes = prefixes_for(SOURCES, seed=2)
    ours_nbest = ours.translate_nbest(SOURCES, nbest=beam_size, prefixes=prefixes)
    theirs_nbest = theirs.translate_nbest(SOURCES, nbest=beam_size, prefixes=prefixes)
    best_ours, best_theirs = [n[0].text for n in ours_nbest], [n[0].text for n in theirs_nbest]
    assert all(t.text.startswith(p) for n, p in zip(theirs_nbest, prefixes) for t in n)
    assert agreement(best_ours, ours.translate(SOURCES)) < 0.8  # the prefixes changed the outputs
    whole_words = [i for i in range(len(SOURCES)) if i % 4 != 3]
    assert agreement([best_ours[i] for i in whole_words], [best_theirs[i] for i in whole_words]) >= 0.99
    # After a cut word the model is unsure, and the beams' stopping rules part on a few lines: CTranslate2
    # (length_penalty=0) stops once its best candidate ends and drops EOS from its secondary beams right
    # after a prefix, ours stops with K finished hypotheses. Greedy search has no such rule.
    assert agreement(best_ours, best_theirs) >= (0.99 if beam_size == 1 else 0.95)
    same = [(a.score, b.score) for x, y in zip(ours_nbest, theirs_nbest) for a, b in zip(x, y) if a.tokens == b.tokens]
    assert max(abs(a - b) for a, b in same) < 1e-3  # rescored with the prefix: the log P of the whole output
