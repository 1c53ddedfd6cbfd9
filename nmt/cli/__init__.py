"""Thin Hydra entry points: each turns its config into objects and calls the library."""
