"""nmt-serve: an HTTP translation server with dynamic batching.

    nmt-serve ckpt=outputs/demo/checkpoints/best.pt              # http://127.0.0.1:5000/ (the explorer)
    nmt-serve ckpt=[de-en.pt,en-de-ct2/] port=8080               # two models, named after their languages
    nmt-serve "models={de-en: a.pt, en-de: b/}" api_keys=[secret]
    curl -s 127.0.0.1:5000/translate -d q="Ein Hund läuft." -d source=de -d target=en

Every key is checked before a model is loaded (one `error:` line, exit 2). The server listens
at once and loads the models in its decoding process: /health answers 503 until they are
ready; a model that fails to load stops the server with exit 2, a decoding process that dies
with exit 1. SIGTERM or Ctrl-C stops accepting connections, lets the requests in flight finish
within drain_timeout_s, and exits 0.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from nmt.cli.common import log_to_stderr, report_user_errors
from nmt.device import configure_cpu, resolve_device
from nmt.errors import NMTError

log = logging.getLogger(__name__)
LOAD_FAILED = 2
DECODER_DIED = 1
SWITCH_INTERVAL_S = 0.0005


def serve(cfg: DictConfig) -> int:
    """Run the server for a composed config until it is stopped; returns the exit status."""
    from nmt.serving.config import ServeConfig  # fastapi & co. load only once the config is known good

    config = ServeConfig.from_dict(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    import uvicorn

    from nmt.serving.app import create_app
    from nmt.serving.registry import load_models

    configure_cpu(config.threads)
    device = resolve_device(config.device)
    options = config.decoding_options()
    sources = config.model_sources()
    status = {"code": 0}
    server: uvicorn.Server | None = None

    def stop_on_failure(error: BaseException) -> None:
        status["code"] = DECODER_DIED if app.state.server.ready else LOAD_FAILED
        print(f"error: {app.state.server.failure}", file=sys.stderr)
        if server is not None:
            server.should_exit = True

    app = create_app(config, load_models=functools.partial(load_models, sources, options, device=device),
                     on_failure=stop_on_failure)
    server = uvicorn.Server(uvicorn.Config(
        app, host=config.host, port=config.port, log_level="info", access_log=False, log_config=None,
        timeout_graceful_shutdown=config.drain_timeout_s, lifespan="on",
    ))
    # uvicorn re-raises the signal that stopped it once it has drained; a stop is the normal end here,
    # so the handlers it restores and re-raises into do nothing and the process exits 0.
    if config.decoder == "thread":
        # The decoding thread runs Python between torch ops and holds the GIL meanwhile; the event loop,
        # which accepts, parses and answers requests, waits for it at every step. A shorter switch interval
        # than Python's 5 ms lets the loop in sooner.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
    listening = bind(config.host, config.port)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        log.info("nmt-serve on http://%s:%d/ (API at /docs)", config.host, config.port)
        server.run(sockets=[listening])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        listening.close()
    log.info("nmt-serve stopped")
    return status["code"]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or an NMTError saying why there is none."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on connections of a socket whose proto says
        # TCP; without it, a response's body (written after its headers) waited for the client's delayed ACK,
        # 40 ms per request on a kept-alive connection.
        listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
    except OSError as error:
        raise NMTError(f"cannot listen on {host}:{port} ({error.strerror or error}); choose another port= "
                       "or stop the program using it.") from None
    listening.listen(2048)
    listening.set_inheritable(True)
    return listening


@hydra.main(config_path="pkg://nmt.configs", config_name="serve", version_base=None)
@report_user_errors
def main(cfg: DictConfig) -> None:
    log_to_stderr()
    status = serve(cfg)
    # A model still loading, or a batch still decoding for a client that has been answered 504, runs in a
    # thread the interpreter would wait for at exit; the server has drained, so nothing of value is lost.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
