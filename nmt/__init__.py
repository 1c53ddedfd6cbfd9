"""nmt: neural machine translation with attention, driven by Hydra.

The public API (`nmt.load`, `nmt.train`, `nmt.config`, `nmt.LoadedTranslator`, ...) lives in
`nmt.api` and is imported on first use, so `import nmt` stays fast for the commands (torch
alone takes over a second to import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["DecodingOptions", "LoadedTranslator", "NMTError", "TrainingResult", "Translation", "config", "load",
           "train"]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports nmt.api on first use
    from nmt.api import DecodingOptions, LoadedTranslator, NMTError, TrainingResult, Translation, config, load, train


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("nmt.api"), name)
    raise AttributeError(f"module 'nmt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
