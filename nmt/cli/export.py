"""nmt-export: write a Transformer checkpoint as a CTranslate2 model directory.

    nmt-export ckpt=outputs/demo/checkpoints/best.pt output=ct2/
    nmt-export ckpt=best.pt output=ct2-int8/ quantization=int8
    echo "Ein Hund läuft." | nmt-translate ckpt=ct2/    # the same commands decode the export

Prints one sentence: what was exported and where. The directory holds CTranslate2's
model.bin, config.json and vocabulary, the SentencePiece models (src.model, tgt.model),
nmt.json (what nmt-translate needs) and a README.txt with a Python usage snippet.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from nmt.checkpoint import load_checkpoint
from nmt.cli.common import log_to_stderr, report_user_errors, required_checkpoint
from nmt.data.validation import check_value
from nmt.errors import NMTError
from nmt.inference.export_ctranslate2 import Quantization, export_ctranslate2, import_ctranslate2


def export(cfg: DictConfig) -> str:
    """Export the checkpoint a composed config names; returns the sentence printed."""
    checkpoint_path = required_checkpoint(cfg)
    quantization = check_value(cfg.quantization, Quantization, key="quantization")
    if OmegaConf.is_missing(cfg, "output") or cfg.output is None:
        raise NMTError("no output directory given: pass output=DIR, e.g. output=ct2/.")
    output = Path(check_value(cfg.output, str, key="output"))
    import_ctranslate2()  # a missing package is reported before the checkpoint is read
    directory = export_ctranslate2(load_checkpoint(checkpoint_path), output, quantization=quantization)
    return (f"exported {checkpoint_path} to {directory} ({quantization} weights); "
            f"translate with: nmt-translate ckpt={directory}")


@hydra.main(config_path="pkg://nmt.configs", config_name="export", version_base=None)
@report_user_errors
def main(cfg: DictConfig) -> None:
    log_to_stderr()
    print(export(cfg))


if __name__ == "__main__":
    main()
