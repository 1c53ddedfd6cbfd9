"""nmt-average: average the weights of several checkpoints of one run into a translate-only checkpoint.

    nmt-average run=outputs/m30k last=5 output=avg.pt         # the 5 step-N.pt of the highest step numbers
    nmt-average "ckpts=[run/checkpoints/step-500.pt,run/checkpoints/step-550.pt]" output=avg.pt

The result holds what translation needs (like best.pt, no training state); its
metrics name the averaged steps and files. nmt-evaluate and nmt-translate take it
as ckpt=. Prints one sentence: what was averaged and where it was written.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from nmt.averaging import average_checkpoints, last_periodic_checkpoints
from nmt.checkpoint import save_checkpoint
from nmt.cli.common import log_to_stderr, report_user_errors
from nmt.data.validation import check_value
from nmt.errors import NMTError, error_summary


def average(cfg: DictConfig) -> str:
    """Average the checkpoints a composed config names and write the result; returns the sentence printed."""
    output = _output_path(cfg)
    inputs = _input_paths(cfg)
    if any(output.resolve() == path.resolve() for path in inputs):
        raise NMTError(f"output={output} is one of the checkpoints being averaged; write the average to another file.")
    checkpoint = average_checkpoints(inputs)
    try:
        save_checkpoint(output, checkpoint)
    except OSError as error:
        raise NMTError(f"output={output} cannot be written ({error_summary(error)}); "
                       "choose a writable path.") from None
    steps = ", ".join(str(step) if step is not None else f"{path.name}: step unknown"
                      for step, path in zip(checkpoint.metrics["averaged_steps"], inputs))
    plural = "s" if len(inputs) > 1 else ""
    return f"averaged the weights of {len(inputs)} checkpoint{plural} (step{plural} {steps}) into {output}"


def _input_paths(cfg: DictConfig) -> list[Path]:
    """The checkpoints to average, from run= + last= or from ckpts=, checked before anything is loaded."""
    run = check_value(cfg.run, str | None, key="run")
    ckpts = check_value(OmegaConf.to_container(cfg.ckpts) if OmegaConf.is_list(cfg.ckpts) else cfg.ckpts,
                        list[str] | None, key="ckpts")
    if run is not None and ckpts is not None:
        raise NMTError(f"both run={run} and ckpts={ckpts} are set; average either the last checkpoints "
                       "of a run or the listed files.")
    if ckpts is not None:
        paths = [Path(path) for path in ckpts]
        repeated = next((path for index, path in enumerate(paths) if path in paths[:index]), None)
        if not paths or repeated is not None:
            problem = f"lists {repeated} twice" if repeated is not None else "is empty"
            raise NMTError(f"ckpts={ckpts} {problem}; list each checkpoint to average once.")
        return paths
    if run is None:
        raise NMTError("nothing to average: pass run=RUN_DIR (with last=N) or \"ckpts=[a.pt,b.pt]\".")
    return last_periodic_checkpoints(run, last=check_value(cfg.last, int, key="last"))


def _output_path(cfg: DictConfig) -> Path:
    if OmegaConf.is_missing(cfg, "output") or cfg.output is None:
        raise NMTError("no output given: pass output=PATH, e.g. output=avg.pt.")
    output = Path(check_value(cfg.output, str, key="output"))
    if output.is_dir():
        raise NMTError(f"output={output} is a directory; pass a file path, e.g. output={output / 'avg.pt'}.")
    return output


@hydra.main(config_path="pkg://nmt.configs", config_name="average", version_base=None)
@report_user_errors
def main(cfg: DictConfig) -> None:
    log_to_stderr()
    print(average(cfg))


if __name__ == "__main__":
    main()
