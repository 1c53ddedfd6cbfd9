"""LibreTranslate's API (POST /translate, GET /languages): its fields, answers and error codes.

Existing LibreTranslate clients send form fields or JSON: `q` (a string, or a list of strings
in JSON and repeated fields in forms), `source`, `target`, `format`, `alternatives`, `api_key`.
The answer is `{"translatedText": ...}` shaped like `q` (a string or a list), with
`"alternatives"` (n-best beyond the first) when asked for and `"detectedLanguage"` when
`source` was `auto`. Here `auto` does not guess from the text: it resolves to the one served
model that translates into `target` (confidence 100), and is an error listing the choices
when several do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nmt.serving.errors import APIError

# ISO 639-1 names for the codes a corpus is likely to use; any other code is named by itself.
LANGUAGE_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fi": "Finnish", "fr": "French",
    "ga": "Irish", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian",
    "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}


@dataclass(frozen=True)
class LibreTranslateRequest:
    """POST /translate, checked."""

    texts: list[str]
    as_list: bool  # q was a list: the answer's translatedText is a list too
    source: str
    target: str
    alternatives: int
    api_key: str | None


def parse_request(fields: Mapping[str, Any]) -> LibreTranslateRequest:
    """The fields of a JSON body or a form (a repeated form field arrives as a list) -> the request,
    or an APIError(400) naming the field at fault."""
    q = fields.get("q")
    if q is None:
        raise APIError(400, "Invalid request: missing q parameter; send the text to translate as q.")
    as_list = isinstance(q, list)
    texts = q if as_list else [q]
    if not texts:
        raise APIError(400, "Invalid request: q is an empty list; send at least one text.")
    if not all(isinstance(text, str) for text in texts):
        raise APIError(400, "Invalid request: q must be a string or a list of strings.")
    source, target = _language(fields, "source"), _language(fields, "target")
    text_format = fields.get("format") or "text"  # LibreTranslate reads a null or empty format as text
    if text_format != "text":
        raise APIError(400, f"Invalid request: format={text_format!r} is not supported; "
                            "this server translates plain text only (format=text).")
    return LibreTranslateRequest(texts=texts, as_list=as_list, source=source, target=target,
                                 alternatives=_alternatives(fields.get("alternatives", 0)),
                                 api_key=_optional_string(fields, "api_key"))


def _language(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None or value == "":
        raise APIError(400, f"Invalid request: missing {name} parameter; send a language code (GET /languages).")
    if not isinstance(value, str):
        raise APIError(400, f"Invalid request: {name} must be a language code string such as 'en'.")
    return value


def _alternatives(value: Any) -> int:
    """A count of alternative translations; forms send it as text."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 10:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise APIError(400, f"Invalid request: alternatives={value!r} must be a whole number, 0 or more.")
    return value


def _optional_string(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise APIError(400, f"Invalid request: {name} must be a string.")
    return value


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def languages(pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """GET /languages from the served (source, target) pairs: every language with the targets it translates to."""
    codes = sorted({code for pair in pairs for code in pair})
    return [{"code": code, "name": language_name(code),
             "targets": sorted({target for source, target in pairs if source == code})} for code in codes]


def resolve_pair(source: str, target: str, pairs: Mapping[tuple[str, str], str]) -> tuple[str, bool]:
    """(the model name for source -> target, whether source was `auto`), or APIError(400) listing the choices."""
    if source == "auto":
        sources = sorted(s for s, t in pairs if t == target)
        if len(sources) == 1:
            return pairs[(sources[0], target)], True
        if not sources:
            raise APIError(400, f"{target} is not a target language of this server; choose one of "
                                f"{', '.join(sorted({t for _, t in pairs}))} (GET /languages).")
        raise APIError(400, f"source=auto is ambiguous: {', '.join(sources)} all translate to {target}; "
                            "send the source language code instead.")
    if (source, target) not in pairs:
        served = ", ".join(f"{s}->{t}" for s, t in sorted(pairs))
        raise APIError(400, f"{source}->{target} is not served; this server translates {served} (GET /languages).")
    return pairs[(source, target)], False


def response(request: LibreTranslateRequest, nbest: list[list[str]], *, detected: str | None) -> dict[str, Any]:
    """The answer for `request`: each text's best translation, and its alternatives when asked for."""
    best = [translations[0] if translations else "" for translations in nbest]
    body: dict[str, Any] = {"translatedText": best if request.as_list else best[0]}
    if request.alternatives > 0:  # as LibreTranslate does, none repeats the translation itself
        others = [list(dict.fromkeys(t for t in translations[1:] if t != translations[0]))
                  for translations in nbest]
        body["alternatives"] = others if request.as_list else others[0]
    if detected is not None:
        language = {"confidence": 100.0, "language": detected}
        body["detectedLanguage"] = [language] * len(best) if request.as_list else language
    return body
