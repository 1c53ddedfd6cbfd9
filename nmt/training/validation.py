"""Validation during training: teacher-forced loss and greedy-decoded BLEU/chrF.

The translations come from the same `Translator` and the same sacrebleu wrappers as
`nmt-evaluate`, so the BLEU logged for a checkpoint is the BLEU the evaluation command
reports for it with greedy decoding (the peers' most reported mismatch is impossible by
construction).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from nmt import metrics
from nmt.data.batching import TokenizedSplit, token_batches
from nmt.inference.translation import Translator
from nmt.models.seq2seq import Seq2Seq
from nmt.training.config import TrainerConfig
from nmt.training.inputs import RunInputs
from nmt.training.loss import label_smoothed_loss

log = logging.getLogger(__name__)


class Validator:
    """Scores a model on the validation split and writes its hypotheses to validation/step-N.txt."""

    def __init__(self, *, inputs: RunInputs, config: TrainerConfig, device: torch.device, output_dir: Path,
                 max_positions: int | None) -> None:
        self.inputs, self.config, self.device = inputs, config, device
        self.hypotheses_dir = output_dir / "validation"
        limit = config.val_max_sentences or len(inputs.validation_sources)
        self.sources = inputs.validation_sources[:limit]
        self.references = inputs.validation_references[:limit]
        self.loss_batches = _loss_batches(inputs.validation, batch_tokens=config.val_batch_tokens,
                                          max_positions=max_positions)

    @torch.no_grad()
    def run(self, model: Seq2Seq, *, step: int) -> dict[str, float]:
        """{"loss": NLL per target token over the whole split, "bleu", "chrf" on the first val_max_sentences}.

        Runs in float32 whatever the training precision, as nmt-evaluate does.
        """
        model.eval()
        loss = self._loss(model)
        translator = Translator(model, self.inputs.tokenizer, beam_size=1, length_penalty=0.0,
                                max_len_a=self.config.val_max_len_a, max_len_b=self.config.val_max_len_b,
                                batch_tokens=self.config.val_batch_tokens, device=self.device)
        hypotheses = translator.translate(self.sources)
        self.hypotheses_dir.mkdir(parents=True, exist_ok=True)
        (self.hypotheses_dir / f"step-{step}.txt").write_text("".join(line + "\n" for line in hypotheses),
                                                              encoding="utf-8")
        return {"loss": loss,
                "bleu": metrics.corpus_bleu(hypotheses, self.references).score,
                "chrf": metrics.corpus_chrf(hypotheses, self.references).score}

    def _loss(self, model: Seq2Seq) -> float:
        nll_sum = torch.zeros((), device=self.device)
        tokens = 0
        for indices in self.loss_batches:
            batch = self.inputs.validation.batch(indices).to(self.device)
            logits = model(batch.src, batch.src_mask, batch.tgt_in)                # (B, T, V)
            nll_sum += label_smoothed_loss(logits, batch.tgt_out, smoothing=0.0)[1]
            tokens += batch.num_tgt_tokens
        return float(nll_sum) / max(tokens, 1)


def _loss_batches(split: TokenizedSplit, *, batch_tokens: int, max_positions: int | None) -> list[np.ndarray]:
    """Fixed, length-sorted batches (the loss depends on neither seed nor epoch), without the pairs a
    model with learned positions cannot read (+1 for BOS/EOS); decoding truncates those instead."""
    batches = token_batches(split.src_lengths, split.tgt_lengths, batch_tokens=batch_tokens,
                            shuffle=False, seed=0, epoch=0)
    if max_positions is None:
        return batches
    fits = (np.asarray(split.src_lengths) + 1 <= max_positions) & (np.asarray(split.tgt_lengths) + 1 <= max_positions)
    if not fits.all():
        log.warning("validation loss leaves out %d of %d pairs longer than the model's %d positions",
                    int((~fits).sum()), len(fits), max_positions)
    kept = [indices[fits[indices]] for indices in batches]
    return [indices for indices in kept if len(indices)]
