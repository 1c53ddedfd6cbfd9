"""The one error type of the HTTP APIs: a status, one sentence, and headers (Retry-After).

Routes raise `APIError`; the app's handler writes it as LibreTranslate writes errors,
`{"error": "<sentence>"}` with the status, for both APIs.
"""

from __future__ import annotations


class APIError(Exception):
    """A request the server answers with an error status and one sentence saying what to change."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
