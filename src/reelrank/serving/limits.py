"""Bounded work per request for the HTTP API: body size, strict JSON, safe error bodies.

Three mechanisms, shared by every endpoint:

- :class:`BodySizeLimit`, an ASGI middleware that refuses a body larger than a limit, from
  its ``Content-Length`` or, when it is streamed, by counting bytes as they arrive; it
  answers ``413`` with a JSON body and never buffers more than the limit.
- :class:`StrictJSONRoute`, the route class of the app: write methods accept only a JSON
  body (``415`` otherwise, so an empty form post creates nothing), and bodies are parsed by
  :func:`parse_json_strict`, which refuses what Python's :mod:`json` lets through
  (``NaN``, ``Infinity``, ``1e400``, integers with hundreds of digits, lone surrogates,
  NUL characters, deep nesting) with a ``422`` that names the problem.
- :func:`safe_errors`, which makes validation errors small and always serialisable: long
  inputs are truncated, containers summarised, non-finite numbers and lone surrogates
  written as text. A 24 MB body therefore can neither reach the parser nor come back in
  the error.
"""

from __future__ import annotations

import email.message
import json
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "BodySizeLimit",
    "BodyTooLarge",
    "StrictJSONRoute",
    "parse_json_strict",
    "safe_errors",
    "safe_text",
    "safe_value",
]

DEFAULT_MAX_BODY_BYTES = 1 << 20
"""Largest request body accepted by default (1 MiB; the largest valid request is smaller)."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a JSON body."""

_MAX_INT_DIGITS = 40  # far beyond int64 (19 digits); longer integers are refused at parse time
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
_TEXT_LIMIT = 100  # characters of a user's input echoed back in an error
_ITEMS_LIMIT = 5  # items of a list/object echoed back in an error
_ERRORS_LIMIT = 20  # validation errors reported per request


# ---------------------------------------------------------------------------- body size
class BodyTooLarge(HTTPException):
    """The request body is larger than the configured limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413, detail=f"request body larger than {limit:,} bytes; send less"
        )


class BodySizeLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with a JSON ``413``.

    A declared ``Content-Length`` over the limit is answered before the application runs.
    Otherwise the received bytes are counted as the body streams in; the message that
    crosses the limit raises :class:`BodyTooLarge`, which the application's HTTP exception
    handler (or, if it escapes, this middleware) turns into the ``413`` answer.

    Parameters
    ----------
    app
        The ASGI application to wrap.
    max_bytes
        Largest body accepted, in bytes.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _json(400, "invalid Content-Length header")(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await _json(413, BodyTooLarge(self.max_bytes).detail)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as e:
            if started:
                raise
            await _json(413, e.detail)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length, None when absent, -1 when malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) <= 18 else -1
    return None


def _json(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


# ---------------------------------------------------------------------------- strict JSON
class _Refused(ValueError):
    """A JSON token that standard JSON (RFC 8259) or this API does not accept."""

    def __init__(self, message: str, token: str = "") -> None:
        super().__init__(message)
        self.token = token


def _reject_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number; numbers must be finite", name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:40]} is out of range; numbers must be finite", text)
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _Refused(f"integer with {len(text)} digits is out of range", text)
    return int(text)


def parse_json_strict(body: bytes | str) -> Any:
    """Parse a JSON document, refusing what standard JSON or this API does not allow.

    Parameters
    ----------
    body
        The raw request body (UTF-8) or its text.

    Returns
    -------
    Any
        The parsed value (dicts, lists, str, int, float, bool, None).

    Raises
    ------
    json.JSONDecodeError
        For invalid JSON, invalid UTF-8, ``NaN``/``Infinity`` or numbers that overflow
        (``1e400``), integers longer than 40 digits, strings with lone surrogates or NUL
        characters, or nesting deeper than :data:`MAX_JSON_DEPTH`. ``msg`` says which;
        FastAPI turns it into a ``422`` with that message.
    """
    if isinstance(body, bytes | bytearray):
        try:
            text = bytes(body).decode("utf-8-sig" if body[:3] == b"\xef\xbb\xbf" else "utf-8")
        except UnicodeDecodeError as e:
            doc = bytes(body).decode("utf-8", "replace")
            raise json.JSONDecodeError(
                f"body is not valid UTF-8 (byte {e.start})", doc, e.start
            ) from None
    else:
        text = body
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except _Refused as e:
        raise json.JSONDecodeError(str(e), text, max(text.find(e.token), 0)) from None
    except RecursionError:
        raise json.JSONDecodeError("JSON nested too deeply", text, 0) from None
    problem = _check_tree(value)
    if problem is not None:
        raise json.JSONDecodeError(problem, text, 0)
    return value


def _check_tree(value: Any) -> str | None:
    """What is wrong with a parsed JSON value (depth, strings), or None; iterative."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            problem = _check_text(node)
            if problem:
                return problem
        elif isinstance(node, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            if isinstance(node, dict):
                for key, item in node.items():
                    problem = _check_text(key)
                    if problem:
                        return problem
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in node)
    return None


def _check_text(text: str) -> str | None:
    if "\x00" in text:
        return "strings must not contain NUL characters (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            code = ord(text[e.start])
            return f"string contains a lone surrogate (\\u{code:04x}); send valid Unicode"
    return None


class _StrictJSONRequest(Request):
    """A request whose :meth:`json` is :func:`parse_json_strict`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json_strict(await self.body())
        return self._json


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header names JSON (``application/json`` or ``*+json``)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


class StrictJSONRoute(APIRoute):
    """Route class: JSON-only write methods (``415`` otherwise) and strict JSON parsing.

    Set as ``app.router.route_class`` before the routes are declared (FastAPI's custom
    route recipe).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        writes = bool(self.methods & _WRITE_METHODS)

        async def strict_handler(request: Request) -> Response:
            if writes and not is_json_media_type(request.headers.get("content-type")):
                return _json(
                    415,
                    f"{request.method} {self.path_format} accepts only JSON: send "
                    "'Content-Type: application/json' and a JSON body",
                )
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict_handler


# ---------------------------------------------------------------------------- error bodies
def safe_text(text: str, limit: int = _TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters (saying how long it was), lone surrogates escaped."""
    cut = text[:limit]
    cut = cut.encode("utf-8", "backslashreplace").decode("utf-8")
    return cut + f"... ({len(text):,} characters)" if len(text) > limit else cut


def safe_value(value: Any, depth: int = 0) -> Any:
    """A small, JSON-serialisable summary of a user's input, for error bodies.

    Strings are cut to 100 characters (lone surrogates escaped), lists and objects to five
    items two levels deep, non-finite numbers and integers beyond int64 written as text.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else safe_text(str(value), 30)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, bytes | bytearray):
        return safe_text(bytes(value[: _TEXT_LIMIT * 4]).decode("utf-8", "replace"))
    if isinstance(value, dict):
        if depth >= 2:
            return f"{{object with {len(value)} keys}}"
        out = {
            safe_text(str(k), 40): safe_value(v, depth + 1)
            for k, v in list(value.items())[:_ITEMS_LIMIT]
        }
        if len(value) > _ITEMS_LIMIT:
            out["..."] = f"{len(value) - _ITEMS_LIMIT} more keys"
        return out
    if isinstance(value, list | tuple):
        if depth >= 2:
            return f"[array of {len(value)} items]"
        items = [safe_value(v, depth + 1) for v in value[:_ITEMS_LIMIT]]
        if len(value) > _ITEMS_LIMIT:
            items.append(f"... {len(value) - _ITEMS_LIMIT} more items")
        return items
    return safe_text(str(value))


def safe_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors (pydantic / FastAPI) made small and JSON-serialisable."""
    out: list[dict[str, Any]] = []
    for error in list(errors)[:_ERRORS_LIMIT]:
        item: dict[str, Any] = {
            "type": safe_text(str(error.get("type", "invalid")), 60),
            "loc": [
                p if isinstance(p, int) and abs(p) < 2**31 else safe_text(str(p), 60)
                for p in error.get("loc", ())
            ][:10],
            "msg": safe_text(str(error.get("msg", "")), 300),
        }
        if "input" in error:
            item["input"] = safe_value(error["input"])
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {safe_text(str(k), 40): safe_text(str(v), 300) for k, v in ctx.items()}
        out.append(item)
    return out
