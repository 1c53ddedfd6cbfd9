"""What every entry point shares: user errors and interruptions as one line on stderr, logging set-up, the ckpt and
data_dir paths, and which corpus a checkpoint is scored or analysed on."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf

from nmt.data.validation import check_value
from nmt.errors import NMTError

if TYPE_CHECKING:
    from nmt.data.corpus import CorpusConfig

F = TypeVar("F", bound=Callable[..., object])


def report_user_errors(fn: F) -> F:
    """Turn an `NMTError` raised inside `fn` into `error: <message>` on stderr and exit 2, and an interruption
    (Ctrl-C, or SIGTERM under `sigterm_interrupts`) into one line and exit 128 + the signal's number (130, 143)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NMTError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt as interruption:
            signum = getattr(interruption, "signum", signal.SIGINT)
            print("interrupted" if signum == signal.SIGINT else f"interrupted by {signal.Signals(signum).name}",
                  file=sys.stderr)
            sys.exit(128 + signum)

    return wrapper  # type: ignore[return-value]


class Interrupted(KeyboardInterrupt):
    """A stop signal raised as Ctrl-C raises KeyboardInterrupt, so the same clean-up runs; `signum` names it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While entered, SIGTERM interrupts the main thread as Ctrl-C does (`Interrupted`): `finally` blocks and
    context managers clean up on the way out, and `report_user_errors` says so and exits 143.

    For commands that stop where they are (nmt-prepare: its unfinished cache folder is removed); nmt-train
    instead stops at its next update boundary (`nmt.training.stopping`). Forked worker processes, which
    inherit the handler, still die of the signal. Outside the main thread, or when the process ignores
    SIGTERM, nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        yield
        return
    owner = os.getpid()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked worker: end as the default handler would
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        # None: the previous handler was not installed from Python; the default is the closest.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def data_overrides_need_a_preset(main: F) -> F:
    """Wrap a Hydra entry point whose corpus defaults to the checkpoint's (`data: null`).

    There `data.local_dir=DIR` alone has no preset to change, and Hydra would answer with its
    multi-line "Could not override" message; this says what to add instead, before Hydra runs.
    """

    @functools.wraps(main)
    @report_user_errors
    def wrapper(*args, **kwargs):
        arguments = sys.argv[1:]
        keys = [argument for argument in arguments if argument.startswith("data.")]
        if keys and not any(argument.startswith(("data=", "+data=", "++data=")) for argument in arguments):
            raise NMTError(f"{keys[0]} changes a corpus preset, but none is chosen (the checkpoint's own corpus is "
                           f"used); add one, e.g. data=multi30k {keys[0]}")
        return main(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def quiet_third_party_logs() -> None:
    """Keep library chatter (datasets, matplotlib) out of the run log.

    The datasets progress bars ("Map", "Saving the dataset") go too: the pipeline's
    own log lines say what each stage does and how long it took.
    """
    for name in ("datasets", "matplotlib", "fsspec", "urllib3", "filelock", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Read by datasets when it is imported; setting it keeps translate from importing datasets.
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    if "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()


def log_to_stderr() -> None:
    """Set-up of the tool-like commands (evaluate, translate): INFO messages on stderr, no log file."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    quiet_third_party_logs()


def required_checkpoint(cfg: DictConfig, key: str = "ckpt") -> Path:
    """The checkpoint path under `key`, or an NMTError saying how to pass it."""
    if OmegaConf.is_missing(cfg, key) or cfg[key] is None:
        raise NMTError(f"no checkpoint given: pass {key}=PATH, e.g. {key}=outputs/demo/checkpoints/best.pt.")
    return Path(check_value(cfg[key], str, key=key))


def required_checkpoints(cfg: DictConfig, key: str = "ckpt") -> list[Path]:
    """The checkpoint paths under `key`: one path, or a list of them (`ckpt=[a.pt,b.pt]`, an ensemble)."""
    if OmegaConf.is_missing(cfg, key) or not isinstance(cfg[key], ListConfig):
        return [required_checkpoint(cfg, key)]
    paths = check_value(OmegaConf.to_container(cfg[key], resolve=True), list[str], key=key)
    if not paths:
        raise NMTError(f"{key}=[] names no checkpoint; pass {key}=PATH or {key}=[PATH,PATH,...] for an ensemble.")
    return [Path(path) for path in paths]


def data_dir(cfg: DictConfig) -> Path:
    """paths.data_dir: where corpora, SentencePiece models and token caches live."""
    return Path(check_value(cfg.paths.data_dir, str, key="paths.data_dir"))


def given_corpus(cfg: DictConfig) -> CorpusConfig | None:
    """The `data=` preset given on the command line, checked now; None means the corpus stored in the checkpoint."""
    from nmt.data.corpus import CorpusConfig  # imports datasets: only the commands that read a corpus pay for it

    if "data" in cfg and cfg.data is not None:
        return CorpusConfig.from_dict(OmegaConf.to_container(cfg.data, resolve=True))  # type: ignore[arg-type]
    return None


def stored_corpus(path: Path, data_config: Mapping[str, Any]) -> CorpusConfig:
    """The corpus the checkpoint at `path` was trained on, from the data config stored in it."""
    from nmt.data.corpus import CorpusConfig

    if not data_config:
        raise NMTError(f"checkpoint {path} records no corpus; name one with data=<preset>, e.g. data=multi30k.")
    return CorpusConfig.from_dict(data_config)
