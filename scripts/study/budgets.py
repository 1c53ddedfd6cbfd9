"""How much each study run gets: the corpus, the model sizes and the training time of `--budget sample|multi30k|quick`.

A budget turns a model preset into the Hydra overrides of one `nmt-train` run. Overrides are
merged by key (a later `model.num_heads=1` replaces the budget's `model.num_heads=4`), so every
command line names each key once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmt.errors import NMTError

PRESETS = ("rnn_plain", "rnn_bahdanau", "rnn_luong", "transformer")
LONG_SPLIT = "long_test"
BEAM_SIZE = 5  # nmt-evaluate's default search for every score of the study
LENGTH_EDGES = (10, 20, 30, 40, 50)  # BLEU-by-length buckets 1-10 ... 41-50, 51+ (source words)
UNQUOTABLE = "'\"\\"  # characters a quoted Hydra override value cannot carry


def quoted_path(path: Path, *, option: str) -> str:
    """`path` made absolute and single-quoted for a Hydra override (the commands run from the repository root);
    `option` names where it came from in the error for a path Hydra cannot carry."""
    if any(character in str(path) for character in UNQUOTABLE):
        raise NMTError(f"{option} {path} contains a quote or a backslash, which Hydra overrides cannot carry; "
                       "choose a path without them")
    return f"'{path.expanduser().resolve()}'"


def merge_overrides(*groups: Iterable[str]) -> tuple[str, ...]:
    """Hydra `key=value` overrides in order, a later value of a key replacing the earlier one in place."""
    merged: dict[str, str] = {}
    for group in groups:
        for override in group:
            key, separator, _ = override.partition("=")
            if not separator:
                raise NMTError(f"override '{override}' has no '='; write it as key=value")
            merged[key] = override
    return tuple(merged.values())


@dataclass(frozen=True)
class Budget:
    """One corpus and per-run budget for every experiment."""

    name: str
    corpus: str  # the corpus name nmt-evaluate puts in its file names (<ckpt>.<corpus>.<split>.beam<K>)
    description: str  # one sentence for the report: corpus, sizes, time per run
    prepare: tuple[str, ...]  # overrides that select the corpus for nmt-prepare
    models: dict[str, tuple[str, ...]]  # preset -> overrides selecting and sizing it (data included)
    trainer: tuple[str, ...]  # trainer overrides of every run
    splits: tuple[str, ...]  # the evaluation splits this corpus has
    has_pronouns: bool  # the corpus has the contrastive pronoun_test split
    cost_file: str = "attention_cost.json"  # the cost measurement's file in the runs directory
    cost_lengths: tuple[int, ...] = (32, 64, 128, 256, 512)  # source lengths the cost is measured at
    cost_repeats: int = 3  # timed repeats per attention and length (the median is reported)

    def train_overrides(self, preset: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
        """Every override of one run of `preset`, `extra` (a variant's model keys) last."""
        if preset not in self.models:
            raise NMTError(f"budget {self.name} has no model preset '{preset}'; presets: {', '.join(self.models)}")
        return merge_overrides(self.models[preset], self.trainer, extra)


def _sample_corpus_budget(name: str, description: str, *, data: tuple[str, ...], rnn: tuple[str, ...],
                          transformer: tuple[str, ...], max_steps: int, validate_every: int, val_max_sentences: int,
                          **cost: Any) -> Budget:
    """A budget on the bundled sample corpus: `data` selects and sizes it, every run trains `max_steps` updates."""
    return Budget(
        name=name,
        corpus="sample",
        description=description,
        prepare=data,
        models={preset: (*data, f"model={preset}", *(transformer if preset == "transformer" else rnn))
                for preset in PRESETS},
        trainer=(f"trainer.max_steps={max_steps}", "trainer.max_epochs=0", "trainer.batch_tokens=1500",
                 f"trainer.validate_every={validate_every}", f"trainer.val_max_sentences={val_max_sentences}",
                 "trainer.patience=0", "trainer.log_every=50", "trainer.keep_checkpoints=1", "trainer.tensorboard=false"),
        splits=("test", LONG_SPLIT),
        has_pronouns=True,
        **cost,
    )


# A fixed number of updates, not a wall-clock budget: the same plan gives the same models whatever
# else the machine runs (about 4 minutes per run on one idle CPU thread).
SAMPLE_MAX_STEPS = 1000

SAMPLE = _sample_corpus_budget(
    "sample",
    (f"the bundled English→French sample corpus (20,000 train pairs, 10 % of them 30–60-word "
     f"sentences; 1,000 test, 500 long-test and 400 contrastive pronoun pairs), small models "
     f"(RNNs: 128-dim embeddings and encoder, 256-dim decoder; Transformer: d_model 128, 2+2 layers) "
     f"and {SAMPLE_MAX_STEPS:,} updates of training per run (trainer.max_steps), then beam-{BEAM_SIZE} scoring"),
    # 20,000 train pairs of which 10 % are 30-60-word sentences, 500 long test pairs.
    data=("data=sample", "data.long_test_size=500", "data.long_train_share=0.1"),
    # Small models, sized as the demo Transformer, so that a few minutes of one CPU thread train them.
    rnn=("model.emb_dim=128", "model.encoder_hidden_dim=128", "model.decoder_hidden_dim=256",
         "model.dropout=0.1", "trainer.lr=2e-3", "trainer.lr_schedule=plateau", "trainer.warmup_steps=0"),
    transformer=("model.d_model=128", "model.num_heads=4", "model.num_encoder_layers=2",
                 "model.num_decoder_layers=2", "model.ff_dim=256", "model.attention_dropout=0.0",
                 "trainer.lr=3e-3", "trainer.lr_schedule=inverse_sqrt", "trainer.warmup_steps=200"),
    max_steps=SAMPLE_MAX_STEPS, validate_every=200, val_max_sentences=200,
)

QUICK_MAX_STEPS = 150

# --budget quick: every experiment end to end in minutes, to try the study (or a change to it) before the
# real budget; its numbers come from models trained for seconds and mean nothing.
QUICK = _sample_corpus_budget(
    "quick",
    (f"a smoke run of the whole study: the sample corpus cut to 4,000 train pairs (200 test, 100 "
     f"long-test and 80 pronoun pairs), tiny models (64-dim) and {QUICK_MAX_STEPS} updates per run, "
     f"then beam-{BEAM_SIZE} scoring; the numbers only show that every step works"),
    data=("data=sample", "data.sample_sizes.train=4000", "data.sample_sizes.validation=200",
          "data.sample_sizes.test=200", "data.long_test_size=100", "data.long_train_share=0.1",
          "data.pronoun_test_size=80"),
    rnn=("model.emb_dim=64", "model.encoder_hidden_dim=64", "model.decoder_hidden_dim=128",
         "model.dropout=0.1", "trainer.lr=3e-3", "trainer.lr_schedule=plateau", "trainer.warmup_steps=0"),
    transformer=("model.d_model=64", "model.num_heads=4", "model.num_encoder_layers=2",
                 "model.num_decoder_layers=2", "model.ff_dim=128", "model.attention_dropout=0.0",
                 "trainer.lr=3e-3", "trainer.lr_schedule=inverse_sqrt", "trainer.warmup_steps=50"),
    max_steps=QUICK_MAX_STEPS, validate_every=QUICK_MAX_STEPS, val_max_sentences=50,
    cost_file="attention_cost-quick.json", cost_lengths=(32, 64, 128), cost_repeats=1,
)

MULTI30K_MAX_TIME = "00:20:00"


def multi30k_budget(local_dir: str | None) -> Budget:
    """Multi30k German→English with each preset's configs/experiment/multi30k_<preset>.yaml; `local_dir` reads the
    raw release instead of the Hub."""
    data = (f"data.local_dir={quoted_path(Path(local_dir), option='--multi30k-dir')}",) if local_dir else ()
    return Budget(
        name="multi30k",
        corpus="multi30k",
        description=(f"Multi30k German→English (29,000 train pairs, test_2016_flickr), each preset at the size of "
                     f"its configs/experiment/multi30k_<preset>.yaml and {MULTI30K_MAX_TIME} of training per run "
                     f"(trainer.max_time), then beam-{BEAM_SIZE} scoring"),
        prepare=("experiment=multi30k_transformer", *data),
        models={preset: (f"experiment=multi30k_{preset}", *data) for preset in PRESETS},
        trainer=(f"trainer.max_time={MULTI30K_MAX_TIME}", "trainer.keep_checkpoints=1", "trainer.tensorboard=false"),
        splits=("test",),
        has_pronouns=False,
    )


BUDGETS = ("sample", "multi30k", "quick")


def budget_named(name: str, *, multi30k_dir: str | None = None) -> Budget:
    if name == "multi30k":
        return multi30k_budget(multi30k_dir)
    if name in ("sample", "quick"):
        if multi30k_dir:
            raise NMTError(f"--multi30k-dir is for --budget multi30k; leave it out with --budget {name}")
        return SAMPLE if name == "sample" else QUICK
    raise NMTError(f"--budget {name} is not a budget; choose {', '.join(BUDGETS)}")
