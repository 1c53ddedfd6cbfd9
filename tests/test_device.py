"""CPU set-up: thread count checks and the allocator setting."""

import platform

import pytest
import torch

import nmt.device as device_module
from nmt.device import (
    configure_cpu,
    cpu_has_native_bf16,
    pads_to_one_width,
    reuse_freed_memory,
    warn_if_bf16_is_emulated,
)
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


CPUINFO = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 fma {extra}\n\nprocessor\t: 1\n"


def test_native_bf16_is_read_from_the_cpu_flags():
    assert cpu_has_native_bf16(CPUINFO.format(extra="avx512f avx512_bf16")) is True
    assert cpu_has_native_bf16(CPUINFO.format(extra="amx_bf16")) is True
    assert cpu_has_native_bf16(CPUINFO.format(extra="avx512f")) is False
    assert cpu_has_native_bf16("processor\t: 0\n") is None  # no flags line: unknown, so no warning


def test_only_bf16_on_a_cpu_pads_source_and_target_to_one_width():
    assert pads_to_one_width(torch.device("cpu"), "bf16")
    assert not pads_to_one_width(torch.device("cpu"), "32")
    assert not pads_to_one_width(torch.device("cuda"), "bf16")


def test_bf16_on_a_cpu_without_bf16_instructions_warns_once_on_stderr(monkeypatch, capsys):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    cpu = torch.device("cpu")

    assert warn_if_bf16_is_emulated(cpu, "bf16", key="trainer.precision")
    assert not warn_if_bf16_is_emulated(cpu, "32")

    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "trainer.precision=bf16" in err and "use trainer.precision=32" in err
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    assert not warn_if_bf16_is_emulated(cpu, "bf16")
