"""Inference: greedy and beam search over the model contract, and the one Translator."""
