"""What nmt-serve's routes share: the config, the models and their batchers, the decoding executor, the
metrics, and whether the server can still translate (`fail`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import BrokenExecutor

from nmt.serving.batcher import Batcher, ShuttingDown
from nmt.serving.config import ServeConfig
from nmt.serving.decoding_process import decoding_executor, decoding_processes, decoding_threads, stop_executor
from nmt.serving.metrics import ServerMetrics
from nmt.serving.registry import ServedModel, unload_models

log = logging.getLogger(__name__)


class ServerState:
    """What the routes share: the config, the models and their batchers once loaded, the metrics."""

    def __init__(self, config: ServeConfig, *, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.config = config
        self.metrics = ServerMetrics()
        self.models: dict[str, ServedModel] = {}
        self.batchers: dict[str, Batcher] = {}
        self.failure: str | None = None
        self.on_failure = on_failure
        self.stopping = False
        # One decoding worker: torch spreads each call over its own threads.
        self.executor = decoding_executor(config.decoder, threads=decoding_threads(config.threads, config.decoder))

    @property
    def ready(self) -> bool:
        return bool(self.batchers)

    def start(self, models: dict[str, ServedModel]) -> None:
        for name, model in models.items():
            batcher = Batcher(model.decode, max_batch_tokens=self.config.max_batch_tokens,
                              max_wait_s=self.config.max_wait_ms / 1000, executor=self.executor,
                              max_queue_sentences=self.config.max_queue_sentences,
                              on_batch=lambda report, name=name: self.metrics.record_batch(name, report))
            batcher.start()
            self.batchers[name] = batcher
        self.models = models

    async def stop(self) -> None:
        self.stopping = True
        for batcher in self.batchers.values():
            await batcher.close()
        stop_executor(self.executor)
        unload_models([model.handle for model in self.models.values()])  # models loaded in this process

    def fail(self, reason: str, error: BaseException) -> None:
        """The server can no longer translate: say why (/health, the log), fail what waits, tell `on_failure`."""
        if self.failure is not None:
            return
        self.failure = reason
        log.error("%s", reason)
        for batcher in self.batchers.values():
            batcher.fail_waiting(ShuttingDown(reason))
        if self.on_failure is not None:
            self.on_failure(error)

    def pairs(self) -> dict[tuple[str, str], str]:
        """(source, target) -> model name; the first model of a pair serves LibreTranslate's requests for it."""
        pairs: dict[tuple[str, str], str] = {}
        for name, model in self.models.items():
            pairs.setdefault((model.source_language, model.target_language), name)
        return pairs


def watch_decoding_processes(state: ServerState) -> None:
    """Fail the server as soon as a decoding process ends while it serves, idle or not (/health must say so
    before a request finds out)."""
    loop = asyncio.get_running_loop()
    for process in decoding_processes(state.executor):
        def ended(process=process) -> None:
            loop.remove_reader(process.sentinel)
            if not state.stopping:
                process.join(timeout=1)
                state.fail(f"the decoding process stopped (exit code {process.exitcode})",
                           BrokenExecutor("the decoding process stopped"))
        loop.add_reader(process.sentinel, ended)
