"""nmt: neural machine translation with attention, driven by Hydra."""

__version__ = "0.1.0"
