"""nmt-serve's HTTP application: routes over one batcher per model.

Routes are thin: they read and check the request (`limits`, `libretranslate`, `schemas`),
build the same `DecodingOptions` nmt-translate builds, hand the sentences to the model's
batcher and shape the answer. Every error leaves as `{"error": "<one sentence>"}` with its
status (LibreTranslate's convention, for both APIs). Models load in the decoding executor (a
process of its own by default, `nmt.serving.decoding_process`) after the server starts
listening: /health answers 503 until they are ready. A decoding process that dies (killed, out
of memory) fails the server: /health says so, requests get 503, and `on_failure` is told.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from nmt.errors import NMTError, error_summary
from nmt.inference.options import DecodingOptions
from nmt.serving import libretranslate
from nmt.serving.answers import native_answer
from nmt.serving.batcher import Overloaded, ShuttingDown
from nmt.serving.config import ServeConfig
from nmt.serving.decoding_process import run_in_executor
from nmt.serving.errors import APIError
from nmt.serving.limits import (
    Accounting,
    BodyLimit,
    check_attention_size,
    check_request_size,
    check_search_size,
    check_unicode,
    parse_fields,
)
from nmt.serving.registry import DecodeKey, SentenceJob, SentenceResult, ServedModel
from nmt.serving.schemas import ModelInfo, ServerInfo, TranslateRequest, TranslateResponse
from nmt.serving.state import ServerState, watch_decoding_processes

log = logging.getLogger(__name__)
access_log = logging.getLogger("nmt.serving.access")

LoadModels = Callable[[], dict[str, ServedModel]]
STATIC = Path(__file__).parent / "static"  # the attention explorer page


def create_app(config: ServeConfig, *, load_models: LoadModels,
               on_failure: Callable[[BaseException], None] | None = None) -> FastAPI:
    """The app for `config`; `load_models` runs in the decoding executor at start-up (picklable for
    decoder=process; tests pass scripted models with decoder=thread). `on_failure` hears of a model that
    fails to load (an NMTError, usually) or a decoding process that died (`BrokenExecutor`)."""
    state = ServerState(config, on_failure=on_failure)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = asyncio.create_task(_load(state, load_models))
        yield
        loading.cancel()
        await state.stop()

    app = FastAPI(title="nmt-serve", version="1", lifespan=lifespan,
                  description="Neural machine translation: LibreTranslate's API, the native API with attention, "
                              "and the attention explorer.")
    app.state.server = state
    _add_error_handlers(app)
    _add_routes(app, state)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(Accounting, record=lambda scope, status, seconds: _account(state, scope, status, seconds))
    return app


async def _load(state: ServerState, load_models: LoadModels) -> None:
    try:
        # Where they decode: every thread that runs torch ops gets its own OpenMP team, and a second team's
        # spinning threads made each decode ~1.6x slower on 2 cores.
        models = await run_in_executor(state.executor, load_models)
    except Exception as error:  # noqa: BLE001 - any failure is reported, and the server stops
        reason = str(error) if isinstance(error, NMTError) else error_summary(error)
        state.fail(f"loading the models failed: {reason}", error)
        return
    state.start(models)
    watch_decoding_processes(state)
    log.info("ready: %s", ", ".join(f"{name} ({model.source_language}->{model.target_language})"
                                     for name, model in models.items()))


def _add_routes(app: FastAPI, state: ServerState) -> None:
    config = state.config

    if config.ui:
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        async def explorer() -> FileResponse:
            return FileResponse(STATIC / "index.html")

    @app.get("/health", summary="503 while the models load, 200 once they translate")
    async def health() -> JSONResponse:
        if state.failure is not None:
            return JSONResponse({"status": "failed", "error": state.failure}, status_code=503)
        if not state.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok", "models": list(state.models)})

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        for name, batcher in state.batchers.items():
            state.metrics.queue.labels(model=name).set(batcher.queued_sentences)
        return Response(state.metrics.exposition(), media_type=state.metrics.content_type)

    @app.get("/languages", summary="LibreTranslate: the languages and their targets")
    async def languages() -> list[dict[str, Any]]:
        _require_ready(state)
        return libretranslate.languages(list(state.pairs()))

    @app.post("/translate", summary="LibreTranslate: translate q from source to target",
              openapi_extra=_LIBRETRANSLATE_BODY)
    async def translate(request: Request) -> JSONResponse:
        _refuse_when_full(state)
        fields = await _fields(request)
        parsed = libretranslate.parse_request(fields)
        check_unicode("q", parsed.texts)
        _check_api_key(config, parsed.api_key)
        _require_ready(state)
        name, auto = libretranslate.resolve_pair(parsed.source, parsed.target, state.pairs())
        if parsed.alternatives + 1 > config.max_nbest:
            raise APIError(400, f"alternatives={parsed.alternatives} is more than this server gives "
                                f"({config.max_nbest - 1}); ask for fewer.")
        nbest = parsed.alternatives + 1
        options = _options(config, beam_size=max(config.beam_size, nbest), nbest=nbest)
        # Like LibreTranslate, each line of a text is translated apart and the line breaks are kept.
        lines = [text.split("\n") for text in parsed.texts]
        flat = [line for text_lines in lines for line in text_lines]
        check_request_size(config, flat)
        model = state.models[name]
        results = iter(await _translate(state, request, model, DecodeKey(options=options, explain=False),
                                        model.jobs(flat)))
        per_line = [[next(results) for _ in text_lines] for text_lines in lines]
        nbest_texts = [_joined_lines(text_results, nbest) for text_results in per_line]
        detected = model.source_language if auto else None
        return JSONResponse(libretranslate.response(parsed, nbest_texts, detected=detected))

    @app.post("/v1/translate", summary="Translate with every decoding option; scores and attention on request",
              response_model=None, responses={200: {"model": TranslateResponse}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": TranslateRequest.model_json_schema()}}}})
    async def translate_v1(request: Request) -> JSONResponse:
        _refuse_when_full(state)
        fields = await _fields(request, json_only=True)
        try:
            body = TranslateRequest.model_validate(fields)
        except ValidationError as error:
            raise APIError(400, _validation_message(error)) from None
        _check_api_key(config, body.api_key)
        _require_ready(state)
        model = _model(state, body.model)
        check_search_size(config, beam_size=body.beam_size, nbest=body.nbest)
        overrides = {key: value for key, value in (("beam_size", body.beam_size),
                                                   ("length_penalty", body.length_penalty)) if value is not None}
        options = _options(config, nbest=body.nbest, sampling=body.sampling, temperature=body.temperature,
                           top_k=body.top_k, top_p=body.top_p, seed=body.seed, **overrides)
        prefixes = _prefixes(body.prefix, len(body.text))
        check_unicode("text", body.text)
        check_unicode("prefix", prefixes)
        check_request_size(config, body.text, prefixes)
        jobs = model.jobs(body.text, prefixes)
        _check_prefix_lengths(model, options, jobs)
        if body.return_attention:
            check_attention_size(config, model.attention_weights([job.source_pieces for job in jobs], options))
        key = DecodeKey(options=options, explain=body.return_attention or body.return_scores)
        results = await _translate(state, request, model, key, jobs)
        # Attention answers run to megabytes: shaped and encoded off the event loop, so other clients go on.
        content = await asyncio.to_thread(_encoded_answer, model.name, body, results)
        return Response(content, media_type="application/json")

    @app.get("/v1/models", summary="The served models, the server's decoding defaults and its limits",
             response_model=ServerInfo)
    async def models() -> ServerInfo:
        _require_ready(state)
        return ServerInfo(
            models=[ModelInfo(name=name, source=model.source_language, target=model.target_language,
                              explains=model.explains, **{key: value for key, value in model.description.items()})
                    for name, model in state.models.items()],
            defaults={key: getattr(config, key) for key in ("beam_size", "length_penalty", "max_len_a", "max_len_b",
                                                            "max_src_tokens", "precision")},
            limits={key: getattr(config, key) for key in ("max_sentences_per_request", "max_chars_per_request",
                                                          "max_body_bytes", "max_beam_size", "max_nbest")},
        )


_LIBRETRANSLATE_BODY = {"requestBody": {"required": True, "content": {
    media: {"schema": {"type": "object", "required": ["q", "source", "target"], "properties": {
        "q": {"description": "text to translate: a string, or a list of strings (JSON)",
              "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "source": {"type": "string", "description": "source language code, or auto"},
        "target": {"type": "string", "description": "target language code"},
        "format": {"type": "string", "enum": ["text"], "default": "text"},
        "alternatives": {"type": "integer", "minimum": 0, "default": 0,
                         "description": "alternative translations per text"},
        "api_key": {"type": "string"}}}}
    for media in ("application/json", "application/x-www-form-urlencoded")}}}


def _encoded_answer(model: str, body: TranslateRequest, results: list[SentenceResult]) -> bytes:
    answer = native_answer(model, body.text, results, attention=body.return_attention, scores=body.return_scores)
    return json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _joined_lines(line_results: list[SentenceResult], nbest: int) -> list[str]:
    """A multi-line text's translations: its lines' k-th translations joined by line breaks, for k < nbest."""
    return ["\n".join(result.translations[min(k, len(result.translations) - 1)].text for result in line_results)
            for k in range(max(len(result.translations) for result in line_results))][:nbest]


def _check_prefix_lengths(model: ServedModel, options: DecodingOptions, jobs: list[SentenceJob]) -> None:
    """A prefix longer than its sentence's translations may be is refused (400), not decoded for ages."""
    for index, job in enumerate(jobs):
        if not job.prefix_pieces:
            continue
        limit = model.length_limit(job.source_pieces, options)
        if job.prefix_pieces > limit:
            raise APIError(400, f"prefix[{index}] has {job.prefix_pieces} target pieces, more than a translation of "
                                f"text[{index}] may get ({limit}: max_len_a * source pieces + max_len_b); "
                                "shorten the prefix.")


async def _fields(request: Request, *, json_only: bool = False) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "application/x-www-form-urlencoded")
    if json_only and content_type.split(";")[0].strip().lower() != "application/json":
        raise APIError(400, f"the body is {content_type.split(';')[0]}; send JSON with Content-Type: application/json.")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        return {key: values[0] if len(values) == 1 else values
                for key in form.keys() for values in [form.getlist(key)]}
    return parse_fields(await request.body(), content_type)


def _check_api_key(config: ServeConfig, api_key: str | None) -> None:
    if config.api_keys and api_key not in config.api_keys:
        raise APIError(403, "Invalid API key" if api_key else "Missing API key: send api_key with the request.")


def _require_ready(state: ServerState) -> None:
    if state.failure is not None:
        raise APIError(503, f"this server cannot translate: {state.failure}; see its log.")
    if not state.ready:
        raise APIError(503, "the models are still loading; retry in a few seconds.", headers={"Retry-After": "5"})


def _refuse_when_full(state: ServerState) -> None:
    """With every model's queue full, refuse before reading the body: the cheapest answer an overloaded
    server can give, and the soonest (a request that fits is still refused later if its model's queue is full)."""
    if not state.batchers or any(batcher.has_room for batcher in state.batchers.values()):
        return
    name, batcher = min(state.batchers.items(), key=lambda item: item[1].retry_after_s())
    state.metrics.refused.labels(model=name).inc()
    full = Overloaded(batcher.queued_sentences, batcher.max_queue_sentences, batcher.retry_after_s())
    raise APIError(503, str(full), headers={"Retry-After": str(full.retry_after_s)})


def _model(state: ServerState, name: str | None) -> ServedModel:
    if name is None:
        if len(state.models) == 1:
            return next(iter(state.models.values()))
        raise APIError(400, f"this server serves several models; name one with \"model\": {', '.join(state.models)}.")
    if name not in state.models:
        raise APIError(400, f"no model named {name!r}; this server serves {', '.join(state.models)}.")
    return state.models[name]


def _options(config: ServeConfig, **overrides: Any) -> DecodingOptions:
    try:
        options = config.decoding_options(**overrides)  # every value checked, as nmt-translate checks it
    except NMTError as error:
        raise APIError(400, str(error)) from None
    if options.sampling:
        return options
    # The sampling settings mean nothing without sampling: requests that differ only there share batches.
    return dataclasses.replace(options, temperature=1.0, top_k=0, top_p=1.0, seed=0)


def _prefixes(prefix: str | list[str] | None, count: int) -> list[str]:
    if prefix is None:
        return [""] * count
    if isinstance(prefix, str):
        return [prefix] * count
    if len(prefix) != count:
        raise APIError(400, f"prefix holds {len(prefix)} items for {count} texts; send one prefix per text, "
                            "or one string for all.")
    return prefix


async def _translate(state: ServerState, request: Request, model: ServedModel, key: DecodeKey,
                     jobs: Sequence[SentenceJob]) -> list[SentenceResult]:
    """Queue `jobs` (their size already checked) on the model's batcher; answer 503 when full, 504 after
    timeout_s, nothing to a client gone."""
    config = state.config
    try:
        model.check_key(key)
    except NMTError as error:
        raise APIError(400, str(error)) from None
    request.scope["nmt.sentences"] = len(jobs)
    if config.log_text:
        request.scope["nmt.text"] = [job.text for job in jobs]
    cost = sum(job.source_pieces + 1 + job.prefix_pieces for job in jobs)  # + 1: EOS
    work = asyncio.ensure_future(state.batchers[model.name].submit(key, list(jobs), cost=cost))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({work, gone}, timeout=config.timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this handler is cancelled (the drain deadline): nothing is left behind
        gone.cancel()
        if not work.done():
            work.cancel()
    if work not in done:
        if gone in done:
            raise APIError(499, "the client closed the connection before its translation was ready.")
        raise APIError(504, f"the translation took longer than this server's timeout_s={config.timeout_s:g}; "
                            "send fewer or shorter sentences, or retry when the server is less busy.")
    try:
        return work.result()
    except Overloaded as error:
        state.metrics.refused.labels(model=model.name).inc()
        raise APIError(503, str(error), headers={"Retry-After": str(error.retry_after_s)}) from None
    except ShuttingDown:
        raise APIError(503, "the server is shutting down; retry on another instance.") from None
    except BrokenExecutor as error:
        state.fail(f"the decoding process stopped ({error_summary(error)})", error)
        raise APIError(503, f"this server cannot translate: {state.failure}; retry on another instance.") from None
    except NMTError as error:
        raise APIError(400, str(error)) from None


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (its body has been read, so the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _validation_message(error: ValidationError) -> str:
    errors = error.errors()
    # A misspelt field also leaves the right one missing: naming the misspelling helps more.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = ".".join(str(part) for part in first["loc"]) or "the body"
    if first["type"] == "extra_forbidden":
        known = ", ".join(TranslateRequest.model_fields)
        return f"{where} is not a field of /v1/translate; the fields are: {known}."
    if first["type"] == "missing":
        return f"{where} is missing; /v1/translate needs at least {{\"text\": [\"...\"]}}."
    return f"{where}: {first['msg']} (got {first.get('input')!r:.80}); see /docs for the request schema."


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, error: APIError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        message = {404: f"no route {request.url.path}; see /docs for the API.",
                   405: f"{request.method} is not allowed on {request.url.path}; see /docs."}.get(
                       error.status_code, str(error.detail))
        return JSONResponse({"error": message}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "the request"
        return JSONResponse({"error": f"{where}: {first.get('msg')}."}, status_code=400)

    @app.exception_handler(Exception)
    async def failure(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"error": f"translation failed ({error_summary(error)}); see the server's log."},
                            status_code=500)


def _account(state: ServerState, scope: dict, status: int, seconds: float) -> None:
    route = getattr(scope.get("route"), "path", None) or "other"
    state.metrics.record_request(route, status, seconds)
    sentences = scope.get("nmt.sentences")
    text = f" text={scope['nmt.text']!r}" if "nmt.text" in scope else ""
    access_log.info("%s %s %d%s %.1f ms%s", scope.get("method"), scope.get("path"), status,
                    "" if sentences is None else f" {sentences} sentence{'' if sentences == 1 else 's'}",
                    seconds * 1000, text)
