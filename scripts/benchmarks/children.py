"""The measurements of scripts/benchmark.py that run in a child process each: one training or decoding configuration."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nmt.device import bound_onednn_primitive_cache, configure_cpu, pads_to_one_width

RESULT_PREFIX = "RESULT "


# ----------------------------------------------------------------------------- shared set-up

def compose(overrides: Sequence[str], config_name: str = "config"):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="nmt.configs", version_base=None):
        return hydra_compose(config_name, overrides=list(overrides))


def plain(node: Any) -> Any:
    from omegaconf import OmegaConf
    return OmegaConf.to_container(node, resolve=True)


def data_overrides(args: argparse.Namespace) -> list[str]:
    return ["data=multi30k", f"data.local_dir={args.corpus}", f"paths.data_dir={args.data_dir}"]


def prepared_corpus(args: argparse.Namespace, preset: str):
    """(composed config, PreparedCorpus) for Multi30k with the preset's model group."""
    from nmt.data.corpus import CorpusConfig
    from nmt.data.pipeline import prepare_corpus
    from nmt.data.tokenizer import TokenizerConfig

    cfg = compose([*data_overrides(args), f"model={preset}"])
    corpus = prepare_corpus(CorpusConfig(**plain(cfg.data)), TokenizerConfig(**plain(cfg.tokenizer)),
                            data_dir=Path(cfg.paths.data_dir))
    return cfg, corpus


def emit(result: dict[str, Any]) -> None:
    """A child's one result line, read by the parent."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- training child

def child_train(args: argparse.Namespace) -> None:
    """Time the training step of one (preset, precision, compile, pairs) configuration."""
    import numpy as np
    from torch.utils.flop_counter import FlopCounterMode

    from nmt.data.batching import TokenizedSplit, token_batches
    from nmt.models import build_model
    from nmt.training.loss import label_smoothed_loss
    from nmt.training.optimizer import adamw

    configure_cpu(args.threads)
    torch.manual_seed(1)
    cfg, corpus = prepared_corpus(args, args.preset)
    train = corpus.splits["train"]
    if args.pairs and args.pairs < len(train):
        train = train.select(range(args.pairs))
    split = TokenizedSplit.from_dataset(train)
    tokenizer = corpus.tokenizer
    model = build_model(plain(cfg.model), src_vocab_size=tokenizer.src_vocab_size,
                        tgt_vocab_size=tokenizer.tgt_vocab_size)
    if args.precision == "bf16":  # as nmt-train does, before the first bf16 matmul
        bound_onednn_primitive_cache(shapes_repeat=model.matmul_shapes_repeat)
    model.train()
    forward = torch.compile(model) if args.compile else model
    optimizer = adamw(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.01,
                      device=torch.device("cpu"))
    batch_tokens = args.batch_tokens or int(cfg.trainer.batch_tokens)
    batches = []
    epoch = 1
    needed = args.warmup_steps + args.window_steps * args.windows
    while len(batches) < needed:
        batches += token_batches(split.src_lengths, split.tgt_lengths, batch_tokens=batch_tokens, shuffle=True,
                                 seed=1, epoch=epoch)
        epoch += 1

    def step(batch) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            logits = forward(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
        loss, _ = label_smoothed_loss(logits, batch.tgt_out, smoothing=0.1)
        (loss / batch.num_tgt_tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    one_width = pads_to_one_width(torch.device("cpu"), args.precision)  # as nmt-train pads
    loaded = [split.batch(indices, one_width=one_width) for indices in batches[:needed]]
    for batch in loaded[:args.warmup_steps]:
        step(batch)
    windows = []
    for window in range(args.windows):
        start = args.warmup_steps + window * args.window_steps
        chunk = loaded[start:start + args.window_steps]
        started = time.perf_counter()
        for batch in chunk:
            step(batch)
        seconds = time.perf_counter() - started
        tgt = sum(batch.num_tgt_tokens for batch in chunk)
        src = sum(int(batch.src_mask.sum()) for batch in chunk)
        windows.append({"seconds": seconds, "tgt_tokens": tgt, "src_tokens": src})

    probe = split.batch(batches[args.warmup_steps])  # without one width's extra padding: the model's FLOPs
    with FlopCounterMode(display=False) as counter:  # fp32 eager: the model's FLOPs, not the kernels'
        logits = model(probe.src, probe.src_mask, probe.tgt_in)
        loss, _ = label_smoothed_loss(logits, probe.tgt_out, smoothing=0.1)
        loss.backward()
    optimizer.zero_grad(set_to_none=True)
    padded = [int(np.prod(batch.tgt_out.shape)) for batch in loaded]
    real = [batch.num_tgt_tokens for batch in loaded]
    emit({
        "preset": args.preset, "precision": args.precision, "compile": args.compile, "pairs": len(split),
        "batch_tokens": batch_tokens, "parameters": model.num_parameters(),
        "tgt_tokens_per_s": statistics.median(w["tgt_tokens"] / w["seconds"] for w in windows),
        "src_tgt_tokens_per_s": statistics.median((w["tgt_tokens"] + w["src_tokens"]) / w["seconds"] for w in windows),
        "step_s": statistics.median(w["seconds"] / args.window_steps for w in windows),
        "windows": windows, "flops_per_tgt_token": counter.get_total_flops() / probe.num_tgt_tokens,
        "tgt_tokens_per_batch": statistics.mean(real), "tgt_padding": 1 - sum(real) / sum(padded),
    })


# ----------------------------------------------------------------------------- decoding child

def child_decode(args: argparse.Namespace) -> None:
    """Translate the test sentences with nmt's Translator (greedy or beam) and time it."""
    from nmt import metrics
    from nmt.inference.translation import Translator, load_for_translation
    from nmt.models import build_model

    configure_cpu(args.threads)
    torch.manual_seed(1)
    cfg, corpus = prepared_corpus(args, args.preset)
    defaults = compose(["ckpt=unused"], config_name="translate")
    if args.ckpt:
        _, model, tokenizer = load_for_translation(args.ckpt, device=torch.device("cpu"))
    else:
        tokenizer = corpus.tokenizer
        model = build_model(plain(cfg.model), src_vocab_size=tokenizer.src_vocab_size,
                            tgt_vocab_size=tokenizer.tgt_vocab_size)
    model.eval()
    test = corpus.splits["test"]
    count = args.sentences or len(test)
    sources, references = list(test["src"][:count]), list(test["tgt"][:count])
    translator = Translator(model, tokenizer, beam_size=args.beam, length_penalty=float(defaults.length_penalty),
                            max_len_a=float(defaults.max_len_a), max_len_b=int(defaults.max_len_b),
                            batch_tokens=int(defaults.batch_tokens), device="cpu")
    started = time.perf_counter()
    hypotheses = translator.translate(sources)
    seconds = time.perf_counter() - started
    emit({"preset": args.preset, "beam": args.beam, "trained": bool(args.ckpt), "sentences": count,
          "seconds": seconds, "sentences_per_s": count / seconds,
          "bleu": metrics.corpus_bleu(hypotheses, references).score,
          "mean_hypothesis_words": statistics.mean(len(line.split()) for line in hypotheses)})
