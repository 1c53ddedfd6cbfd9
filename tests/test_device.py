"""CPU set-up: thread count checks and the allocator setting."""

import platform

import pytest
import torch

from nmt.device import configure_cpu, reuse_freed_memory
from nmt.errors import NMTError


def test_negative_threads_name_the_key():
    with pytest.raises(NMTError, match=r"trainer.threads=-2 must be 0"):
        configure_cpu(-2, key="trainer.threads")


def test_threads_are_set():
    before = torch.get_num_threads()
    try:
        configure_cpu(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_heap_thresholds():
    assert reuse_freed_memory()
