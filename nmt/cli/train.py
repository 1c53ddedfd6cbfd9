"""nmt-train: prepare the corpus, build the model from its config group, train, save checkpoints.

    nmt-train                                        # the sample corpus's Transformer, trained by its recipe
    nmt-train data=multi30k model=rnn_bahdanau       # Multi30k with the published rnn_bahdanau schedule
    nmt-train experiment=sample_demo
    nmt-train model=rnn_luong model.score=general trainer.max_epochs=20
    nmt-train -m model=rnn_bahdanau,rnn_luong,transformer trainer.max_time=00:20:00
    nmt-train hydra.run.dir=outputs/run1 trainer.resume=true     # continue a killed run
    torchrun --standalone --nproc_per_node=2 -m nmt.cli.train hydra.run.dir=outputs/ddp   # two processes

The batch size, learning rate, warm-up and budget come from configs/recipe/<data>_<model>.yaml
where one exists for the chosen corpus and model (the Hydra defaults list picks it), so the
bare command learns; `--cfg job` shows the composed values and any override on the command line wins.

Each run writes into its Hydra output directory: .hydra/ (the resolved config),
train.log, metrics.jsonl, tensorboard/, validation/ and checkpoints/. SIGINT/SIGTERM
save last.pt and exit with status 128 + the signal's number (130, 143).

Under torchrun every rank runs this command; rank 0 prepares the corpus cache first
(the others then read it), picks the run directory and alone writes into it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from nmt.averaging import average_last_checkpoints
from nmt.cli.common import data_dir, quiet_third_party_logs, report_user_errors, sigterm_interrupts
from nmt.data.batching import TokenizedSplit
from nmt.data.corpus import CorpusConfig
from nmt.data.pipeline import prepare_corpus
from nmt.data.tokenizer import TokenizerConfig
from nmt.device import resolve_device
from nmt.errors import NMTError
from nmt.models import MODEL_CLASSES, build_model
from nmt.plotting import plot_learning_curves
from nmt.training.config import TrainerConfig, configure_torch
from nmt.training.distributed import (
    Ranks,
    main_rank_first,
    ranks_from_environment,
    start_process_group,
    stop_process_group,
)
from nmt.training.loop import RunInputs, Trainer, TrainingResult
from nmt.training.run_directory import refuse_if_in_use

log = logging.getLogger(__name__)


def train(cfg: DictConfig, *, output_dir: Path | None = None) -> TrainingResult:
    """Train with a composed config; `output_dir` defaults to the Hydra run directory.

    Started by torchrun (WORLD_SIZE > 1), it joins the process group for the run and leaves it after.
    """
    output_dir = Path(output_dir if output_dir is not None else HydraConfig.get().runtime.output_dir)
    config = TrainerConfig.from_dict(_plain(cfg.trainer))
    ranks = ranks_from_environment()
    device = resolve_device(config.device, key="trainer.device")
    if ranks.distributed:
        device = _rank_device(device, ranks)
        if config.threads == 0:  # ranks share the cores: one thread each unless trainer.threads says otherwise
            torch.set_num_threads(1)
    model_class = MODEL_CLASSES.get(str(cfg.model.get("_target_")))  # an unknown one is refused in _train
    configure_torch(config, device, shapes_repeat=model_class is None or model_class.matmul_shapes_repeat)
    ranks = start_process_group(ranks, device, timeout_s=config.distributed_timeout)
    try:
        result = _train(cfg, config, ranks=ranks, device=device, output_dir=Path(ranks.broadcast(str(output_dir))))
        ranks.barrier()  # the ranks leave the group together, after rank 0's last write
    finally:
        stop_process_group()
    if ranks.is_main and result.stop_signal is None and config.average_last > 0:  # the other ranks have left
        average_last_checkpoints(result.checkpoint_dir, last=config.average_last, final_step=result.step)
    return result


def _train(cfg: DictConfig, config: TrainerConfig, *, ranks: Ranks, device: torch.device,
           output_dir: Path) -> TrainingResult:
    corpus_config = CorpusConfig.from_dict(_plain(cfg.data))
    tokenizer_config = TokenizerConfig.from_dict(_plain(cfg.tokenizer))
    model_config = _plain(cfg.model)
    with torch.device("meta"):  # a misspelt model key fails now, not after minutes of data preparation
        build_model(model_config, src_vocab_size=tokenizer_config.vocab_size, tgt_vocab_size=tokenizer_config.vocab_size)
    if ranks.is_main:  # the Trainer locks the run directory; a busy one is refused before the data work
        refuse_if_in_use(output_dir)
    resume_from = _resume_path(config.resume, output_dir)
    with main_rank_first(ranks):  # one process builds the cache, the others find it
        with sigterm_interrupts():  # a stop while preparing removes the unfinished cache, as nmt-prepare does
            corpus = prepare_corpus(corpus_config, tokenizer_config, data_dir=data_dir(cfg))
    log.info("corpus:\n%s", corpus.summary)
    tokenizer = corpus.tokenizer
    model = build_model(model_config, src_vocab_size=tokenizer.src_vocab_size, tgt_vocab_size=tokenizer.tgt_vocab_size)
    validation = corpus.splits["validation"]
    inputs = RunInputs(
        train=TokenizedSplit.from_dataset(corpus.splits["train"]),
        validation=TokenizedSplit.from_dataset(validation),
        validation_sources=list(validation["src"]), validation_references=list(validation["tgt"]),
        tokenizer=tokenizer, model_config=model_config, data_config=corpus_config.to_dict(),
        tokenizer_config=tokenizer_config.to_dict())
    trainer = Trainer(model=model, inputs=inputs, config=config, device=device, output_dir=output_dir,
                      resume_from=resume_from, ranks=ranks)
    result = trainer.fit()
    metrics_path = output_dir / "metrics.jsonl"
    if ranks.is_main and result.stop_signal is None and metrics_path.is_file() and metrics_path.stat().st_size > 0:
        plot = plot_learning_curves(metrics_path, output_dir / "learning_curves.png", title=corpus_config.name)
        log.info("learning curves in %s", plot)
    return result


def _rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """Each rank on its own GPU (LOCAL_RANK) under CUDA; every rank on the CPU otherwise."""
    if device.type != "cuda":
        return device
    if ranks.local_rank >= torch.cuda.device_count():
        raise NMTError(f"LOCAL_RANK={ranks.local_rank} but this machine has {torch.cuda.device_count()} CUDA "
                       "device(s); start at most one process per GPU (torchrun --nproc_per_node).")
    return torch.device("cuda", ranks.local_rank)


def _resume_path(resume: bool | str, output_dir: Path) -> Path | None:
    """trainer.resume: false -> None; true -> <run dir>/checkpoints/last.pt; a path -> that file."""
    if resume is False or resume in ("false", "False", ""):
        return None
    path = output_dir / "checkpoints" / "last.pt" if resume is True or resume in ("true", "True") else Path(resume)
    if not path.is_file():
        raise NMTError(
            f"trainer.resume={str(resume).lower() if isinstance(resume, bool) else resume} but {path} does not exist; pass hydra.run.dir=<the run's directory> "
            "with trainer.resume=true, or trainer.resume=<path to last.pt>."
        )
    return path


def _plain(node: Any) -> dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True, throw_on_missing=True)  # type: ignore[return-value]


@hydra.main(config_path="pkg://nmt.configs", config_name="config", version_base=None)
@report_user_errors
def main(cfg: DictConfig) -> None:
    quiet_third_party_logs()
    is_main_rank = ranks_from_environment().is_main
    if not is_main_rank:  # rank 0 speaks for the run; the others only warn
        logging.getLogger().setLevel(logging.WARNING)
    result = train(cfg)
    if result.stop_signal is not None:
        sys.exit(128 + result.stop_signal)  # the shell's convention for a process ended by that signal
    if not is_main_rank:
        return
    best = "none" if result.best_value is None else f"{result.best_value:.2f} at step {result.best_step}"
    print(f"trained {result.step} steps ({result.stop_reason}); best val {result.metric}: {best}; "
          f"checkpoints in {result.checkpoint_dir}")


if __name__ == "__main__":
    main()
