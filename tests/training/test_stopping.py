"""StopOnSignal: the first SIGINT/SIGTERM is recorded, the second exits, the previous handlers come back."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from nmt.training.stopping import StopOnSignal


def test_first_signal_is_recorded_and_the_previous_handlers_come_back():
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with StopOnSignal() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert (stop.signum, stop.name) == (signal.SIGTERM, "SIGTERM")
    assert {signum: signal.getsignal(signum) for signum in before} == before


@pytest.mark.usefixtures("sigint_handled")
def test_second_signal_exits_at_once_with_128_plus_its_number():
    with pytest.raises(SystemExit) as exit_info, StopOnSignal():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
    assert exit_info.value.code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_the_main_thread_it_installs_nothing_and_raises_nothing():
    seen = {}

    def enter_in_a_thread():
        with StopOnSignal() as stop:
            seen["handler"] = signal.getsignal(signal.SIGTERM)
            seen["signum"] = stop.signum

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=enter_in_a_thread)
    thread.start()
    thread.join()
    assert seen == {"handler": before, "signum": None}
