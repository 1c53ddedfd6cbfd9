"""What one request may ask of the server, checked before it is queued, and its body read within a size limit.

Each limit is a setting of configs/serve.yaml; a request beyond one gets 413 (size) or 400
(search settings) with the limit named, so a client knows what to change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qs

from nmt.serving.config import ServeConfig
from nmt.serving.errors import APIError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def check_request_size(config: ServeConfig, texts: Sequence[str], prefixes: Sequence[str] = ()) -> None:
    """Sentences and characters (prefixes included) of one request within the server's limits, or
    APIError(413) naming the limit."""
    if len(texts) > config.max_sentences_per_request:
        raise APIError(413, f"the request holds {len(texts)} sentences, more than this server's "
                            f"max_sentences_per_request={config.max_sentences_per_request}; split it.")
    characters = sum(len(text) for text in texts) + sum(len(prefix) for prefix in prefixes)
    if characters > config.max_chars_per_request:
        raise APIError(413, f"the request holds {characters} characters, more than this server's "
                            f"max_chars_per_request={config.max_chars_per_request}; split it.")


def check_search_size(config: ServeConfig, *, beam_size: int | None, nbest: int) -> None:
    """beam_size and nbest within the server's maxima (their other checks are DecodingOptions')."""
    if beam_size is not None and beam_size > config.max_beam_size:
        raise APIError(400, f"beam_size={beam_size} exceeds this server's max_beam_size={config.max_beam_size}; "
                            "ask for a smaller beam.")
    if nbest > config.max_nbest:
        raise APIError(400, f"nbest={nbest} exceeds this server's max_nbest={config.max_nbest}; "
                            "ask for fewer translations per sentence.")


def check_unicode(field: str, texts: Sequence[str]) -> None:
    """Every string encodable as UTF-8 (JSON's \\ud800 escapes decode to lone surrogates that are not), or 400."""
    for index, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            where = field if len(texts) == 1 else f"{field}[{index}]"
            raise APIError(400, f"{where} holds a lone surrogate (U+{ord(text[error.start]):04X} at character "
                                f"{error.start}), which is not text; send valid Unicode.") from None


def check_attention_size(config: ServeConfig, weights: int) -> None:
    """The attention an answer could hold within max_attention_weights, or APIError(413)."""
    if weights > config.max_attention_weights:
        raise APIError(413, f"the attention of this request could hold {weights:,} weights, more than this "
                            f"server's max_attention_weights={config.max_attention_weights:,}; ask for fewer "
                            "sentences or hypotheses, shorter sentences, or no attention.")


def parse_fields(body: bytes, content_type: str) -> dict[str, Any]:
    """A JSON object or a URL-encoded form as a dict (a repeated form field becomes a list), or APIError(400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise APIError(400, f"the request body is not valid UTF-8 (byte {error.start}); send UTF-8 text.") from None
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as error:
            raise APIError(400, f"the request body is not valid JSON ({error.msg} at line {error.lineno} "
                                f"column {error.colno}); send a JSON object.") from None
        except (ValueError, RecursionError) as error:  # a 5,000-digit number, [[[[... nested too deep
            raise APIError(400, f"the request body is JSON this server does not read ({type(error).__name__}: "
                                "a number too long or nesting too deep); send a flat JSON object.") from None
        if not isinstance(fields, dict):
            raise APIError(400, f"the request body is a JSON {type(fields).__name__}, not an object; "
                                'send {"q": "...", "source": "...", "target": "..."}.')
        return fields
    try:
        parsed = parse_qs(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise APIError(400, "a form field is not valid UTF-8 once percent-decoded; send UTF-8 text.") from None
    return {key: values[0] if len(values) == 1 else values for key, values in parsed.items()}


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is refused with 413 before any route reads it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client left; the app sees a disconnect when it asks
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(send, size)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: waits for the client to disconnect

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps({"error": f"the request body has {size} bytes, more than this server's "
                                    f"max_body_bytes={self.max_bytes}; send less text per request."}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class Accounting:
    """ASGI middleware: each request's route, status and time go to `record` (metrics and the access log)."""

    def __init__(self, app: ASGIApp, *, record: Callable[[Scope, int, float], None]) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.record(scope, status, time.perf_counter() - started)
