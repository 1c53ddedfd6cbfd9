"""The parts of scripts/benchmark.py: its child-process and in-process measurements and its report."""
