"""The real nmt-serve command on a loopback port: a LibreTranslate client, start-up, errors, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(*overrides: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nmt.cli.serve", f"port={port}", "device=cpu", "threads=1", *overrides],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return process, f"http://127.0.0.1:{port}"


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_ready(process: subprocess.Popen, url: str, *, seconds: float = 60) -> list[int]:
    """Poll /health until 200; returns the statuses seen (503 while loading)."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nmt-serve exited {process.returncode}: {process.stderr.read()}")
        try:
            status, _ = get(f"{url}/health")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
            continue
        seen.append(status)
        if status == 200:
            return seen
        time.sleep(0.02)
    raise AssertionError("nmt-serve never became ready")


@pytest.fixture
def server(transformer_checkpoint):
    process, url = start(f"ckpt={transformer_checkpoint}")
    try:
        wait_until_ready(process, url)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_libretranslate_client_translates_and_lists_languages(server):
    from libretranslatepy import LibreTranslateAPI

    _, url = server
    client = LibreTranslateAPI(url)
    assert isinstance(client.translate("a man rides a bike .", "en", "fr"), str)
    assert client.languages() == [{"code": "en", "name": "English", "targets": ["fr"]},
                                  {"code": "fr", "name": "French", "targets": []}]


def decoding_processes(pid: int) -> list[int]:
    """The worker processes `pid` started (not multiprocessing's resource tracker), from /proc."""
    started = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
               for child in (task / "children").read_text().split()]
    return [child for child in started if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


def gone(pid: int, *, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return True  # a zombie has ended; its new parent reaps it
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from Linux's /proc")
@pytest.mark.parametrize("stop", ["SIGTERM to the server", "Ctrl-C: SIGINT to its process group"])
def test_a_stop_finishes_the_requests_in_flight_exits_0_and_ends_the_decoding_process(server, stop):
    process, url = server
    decoders = decoding_processes(process.pid)
    assert len(decoders) == 1  # decoder=process: the models live in a process of their own
    answers = []

    def ask():
        request = urllib.request.Request(f"{url}/v1/translate", method="POST", headers={"content-type": "application/json"},
                                         data=json.dumps({"text": ["the boys play football on the beach ."] * 64,
                                                          "beam_size": 8}).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            answers.append(response.status)

    asker = threading.Thread(target=ask)
    asker.start()
    time.sleep(0.3)
    if stop.startswith("SIGTERM"):
        process.send_signal(signal.SIGTERM)
    else:  # the decoding process gets it too, and must go on until the server has drained
        os.killpg(process.pid, signal.SIGINT)
    asker.join(timeout=30)
    assert process.wait(timeout=30) == 0
    assert answers == [200]
    assert "stopped" in process.stderr.read()
    assert gone(decoders[0])


def test_a_decoding_process_that_dies_while_idle_stops_the_server_with_exit_1(server):
    process, url = server
    os.kill(decoding_processes(process.pid)[0], signal.SIGKILL)  # no request is waiting: the server notices anyway
    assert process.wait(timeout=30) == 1
    assert "error: the decoding process stopped (exit code -9)" in process.stderr.read()


def test_connections_to_the_listening_socket_send_without_delay():
    """Nagle's algorithm off on every connection (asyncio turns it off only for sockets that name TCP): else a
    response's body waits for the client's delayed ACK of its headers, 40 ms per kept-alive request."""
    import asyncio

    from nmt.cli.serve import bind

    listening = bind("127.0.0.1", 0)
    port = listening.getsockname()[1]

    async def accept_one() -> int:
        accepted = asyncio.get_running_loop().create_future()

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport):
                accepted.set_result(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP,
                                                                                  socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(Protocol, sock=listening)
        with socket.create_connection(("127.0.0.1", port)):
            nodelay = await asyncio.wait_for(accepted, timeout=10)
        server.close()
        return nodelay

    assert asyncio.run(accept_one()) == 1


def test_a_port_in_use_is_one_error_line(transformer_checkpoint):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "nmt.cli.serve", f"ckpt={transformer_checkpoint}",
                                 f"port={port}"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}")
