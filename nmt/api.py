"""The Python API: load a checkpoint or an export and translate, or train with Hydra overrides.

Everything here is what the commands do, reached from Python: `load` builds the `LoadedTranslator`
nmt-translate, nmt-evaluate and nmt-serve decode through, with nmt-translate's defaults read from
its config (configs/translate.yaml); `train` composes nmt-train's config with the same overrides
and runs the same `nmt.cli.train.train`; `config` gives any command's composed config. User
mistakes raise `NMTError` with one sentence saying what to fix, as the commands print them.

Examples:
    >>> import nmt
    >>> translator = nmt.load(checkpoint)
    >>> translations = translator.translate(["a man rides a bike .", "the cat is black ."])
    >>> len(translations), type(translations[0])
    (2, <class 'str'>)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from nmt.cli.common import quiet_third_party_logs
from nmt.cli.train import train as train_with_config
from nmt.errors import NMTError
from nmt.inference.loading import LoadedTranslator, load_translator
from nmt.inference.options import DecodingOptions
from nmt.inference.translation import Translation
from nmt.training.distributed import ranks_from_environment
from nmt.training.loop import TrainingResult

__all__ = ["DecodingOptions", "LoadedTranslator", "NMTError", "TrainingResult", "Translation", "config", "load",
           "train"]

# Each command's primary config in nmt.configs (configs/ in the repository).
COMMAND_CONFIGS = {"prepare": "prepare", "train": "config", "evaluate": "evaluate", "translate": "translate",
                   "export": "export", "average": "average", "analyze": "analyze", "serve": "serve"}
# What Hydra writes for nmt-train's runs, so a run started here reads the same.
_LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def config(overrides: Sequence[str] = (), *, command: str = "train") -> DictConfig:
    """The config `command` composes from `overrides` (Hydra syntax, as on its command line).

    Args:
        overrides: `key=value`, `group=option`, `+key=value`, ... as typed after `nmt-<command>`.
        command: prepare, train, evaluate, translate, export, average, analyze or serve.

    Returns:
        The composed config without Hydra's own `hydra` node.

    Examples:
        >>> cfg = nmt.config(["model=rnn_luong", "trainer.max_steps=100"])
        >>> cfg.model.attention, cfg.trainer.max_steps
        ('luong', 100)
        >>> nmt.config(command="translate").beam_size
        5
        >>> nmt.config(["trainer.max_stesp=100"])
        Traceback (most recent call last):
        ...
        nmt.errors.NMTError: the overrides ['trainer.max_stesp=100'] do not compose with nmt-train's config: ...
    """
    with _composed(overrides, command=command, hydra_node=False) as cfg:
        return cfg


def load(paths: str | Path | Sequence[str | Path], **options: Any) -> LoadedTranslator:
    """Load a checkpoint, an ensemble of checkpoints or an nmt-export directory for translation.

    Args:
        paths: a `.pt` checkpoint written by nmt-train, a list of them (an ensemble: probabilities
            averaged), or a directory written by nmt-export (decoded by CTranslate2).
        **options: decoding options, named and checked as nmt-translate's keys (beam_size, nbest,
            length_penalty, sampling, temperature, top_k, top_p, seed, max_len_a, max_len_b,
            max_src_tokens, batch_tokens, device, precision, threads); the others keep
            nmt-translate's defaults. `threads` > 0 sets torch's CPU threads for the process.

    Raises:
        NMTError: an unknown option (naming the valid ones), a bad value, or an unusable file.

    Examples:
        >>> translator = nmt.load(checkpoint, beam_size=2, nbest=2)
        >>> [pair] = translator.translate_nbest(["two dogs run in the park ."])
        >>> len(pair), pair[0].score >= pair[1].score
        (2, True)
        >>> nmt.load(checkpoint, beam_sise=2)
        Traceback (most recent call last):
        ...
        nmt.errors.NMTError: unknown config key beam_sise; valid keys are: beam_size, nbest, ...
    """
    defaults = OmegaConf.to_container(config(command="translate"), resolve=True)
    decoding = DecodingOptions.from_dict(defaults).replace(**options)  # type: ignore[arg-type]
    return load_translator(_checkpoint_paths(paths), decoding)


def train(overrides: Sequence[str] = (), *, run_dir: str | Path | None = None) -> TrainingResult:
    """Train as `nmt-train <overrides>` does, into `run_dir`; returns how the run ended.

    The config is composed from the same overrides (`experiment=sample_demo`, `model=rnn_luong`,
    `trainer.max_steps=100`, ...) and checked the same way. The run directory receives what
    nmt-train writes: `.hydra/` (the composed config and the overrides), `train.log`,
    `metrics.jsonl`, `validation/` and `checkpoints/` (`best.pt`, `last.pt`).

    Args:
        overrides: Hydra overrides, as typed after `nmt-train`.
        run_dir: where the run writes; None takes nmt-train's own choice (`hydra.run.dir`,
            `outputs/<date>/<time>` unless an override sets it). `trainer.resume=true`
            continues the run found there.

    Returns:
        The last step, why training stopped, the best validation score and its step, and
        `checkpoint_dir` (`<run_dir>/checkpoints`).

    Examples:
        >>> result = nmt.train(["data.sample_sizes.train=200", "data.sample_sizes.validation=10",
        ...                     "data.sample_sizes.test=10", "data.pronoun_test_size=0", "data.vocab_size=100",
        ...                     "model.d_model=16", "model.num_heads=2", "model.ff_dim=32",
        ...                     "model.num_encoder_layers=1", "model.num_decoder_layers=1",
        ...                     "trainer.max_steps=4", "trainer.threads=1", "trainer.tensorboard=false"],
        ...                    run_dir="outputs/tiny")
        >>> result.step, result.checkpoint_dir.as_posix()
        (4, 'outputs/tiny/checkpoints')
        >>> nmt.load(result.checkpoint_dir / "best.pt").step
        4
    """
    with _composed(overrides, command="train", hydra_node=True) as cfg:
        chosen = Path(cfg.hydra.run.dir) if run_dir is None else Path(run_dir)
        with open_dict(cfg):
            del cfg["hydra"]
    quiet_third_party_logs()
    if not ranks_from_environment().is_main:  # under torchrun rank 0 alone writes into the run directory
        return train_with_config(cfg, output_dir=chosen)
    (chosen / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, chosen / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), chosen / ".hydra" / "overrides.yaml")
    with _logging_to(chosen / "train.log"):
        logging.getLogger(__name__).info("training in %s with overrides %s", chosen, list(overrides))
        return train_with_config(cfg, output_dir=chosen)


@contextmanager
def _composed(overrides: Sequence[str], *, command: str, hydra_node: bool) -> Iterator[DictConfig]:
    """`command`'s config composed from `overrides`, Hydra's errors as one NMTError naming the command."""
    if command not in COMMAND_CONFIGS:
        raise NMTError(f"command={command!r} is not an nmt command; choose one of {', '.join(COMMAND_CONFIGS)}.")
    if isinstance(overrides, str):
        raise NMTError(f"overrides is one string ({overrides!r}); pass a list of them, e.g. [{overrides!r}].")
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        try:
            cfg = compose(COMMAND_CONFIGS[command], overrides=list(overrides), return_hydra_config=hydra_node)
        except (HydraException, OmegaConfBaseException) as error:
            message = " ".join(str(error).split("Config search path:")[0].split())  # the path is Hydra's own
            raise NMTError(f"the overrides {list(overrides)} do not compose with nmt-{command}'s config: "
                           f"{message}") from None
        yield cfg


@contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """nmt's INFO messages also go to `path` (as Hydra's job logging writes train.log for nmt-train)."""
    logger = logging.getLogger("nmt")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def _checkpoint_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    if not paths:
        raise NMTError("paths names no checkpoint; pass a .pt file, a list of them (an ensemble) or an export.")
    return [Path(path) for path in paths]
