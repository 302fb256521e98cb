"""A large JSON body read and validated a piece at a time, in the request's worker thread.

One `json.loads` of a 9 MiB body held the GIL for a quarter of a second, and one Pydantic
validation of it for a second: the event loop (`/health`, every other request's I/O) waited
as long. Here json's own scanner reads one item at a time, every object passes through a Python
hook on the way, and items are validated a chunk at a time, so the loop gets the GIL between
pieces. What a body keeps should be tuples and strings, which the garbage collector stops
tracking (a dict stays tracked until a full collection, and every full collection of the API
process took 0.1 s).
"""

import json
import re
from _json import scanstring
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from app.core.echo import MAX_ERRORS
from app.core.errors import Invalid, TooLarge, too_many

Loc = tuple[str | int, ...]
# Items validated in one Pydantic call: at most this many, or this many characters of them.
CHUNK = 100
_CHUNK_CHARS = 64 * 1024
_SPACE = re.compile(r"[ \t\n\r]*")


def not_json(message: str, at: int) -> RequestValidationError:
    """FastAPI's own 422 for a body that is not JSON."""
    error = {"type": "json_invalid", "loc": ("body", at), "msg": "JSON decode error", "input": {}}
    return RequestValidationError([{**error, "ctx": {"error": message}}])


def decoded(body: bytes, stretch: int) -> str:
    """The body as text: UTF-8 (or UTF-16 or -32, as `json.loads` takes them). json's scanner
    reads a list of numbers or strings in one call, holding the GIL: a body with `stretch`
    characters in a row without an object's brace is refused before it is parsed, so that no
    call reads more than twice that."""
    try:
        text = body.decode(json.detect_encoding(body))
    except UnicodeDecodeError as exc:
        raise not_json(f"not UTF-8 text ({exc.reason} at byte {exc.start})", exc.start) from None
    for start in range(0, len(text) - stretch + 1, stretch):
        end = start + stretch
        if text.find("{", start, end) < 0 and text.find("}", start, end) < 0:
            message = f"no value of this document runs {stretch:,} characters without an object"
            raise Invalid(("body",), message, f"from character {start:,}")
    return text


class Reader:
    """A JSON text read a value at a time, each value of at most `objects` objects (so that
    one item cannot be millions of them)."""

    def __init__(self, text: str, objects: int) -> None:
        self.text = text
        self.at = 0
        self.most, self.objects = objects, 0
        # Every object passes through `_object`, a Python call: within a large value, the GIL
        # can pass to the event loop.
        self._decoder = json.JSONDecoder(object_pairs_hook=self._object)

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.objects += 1
        if self.objects > self.most:
            self.fail(f"a value of more than {self.most:,} objects")
        return dict(pairs)

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        self.at = _SPACE.match(self.text, self.at).end()  # type: ignore[union-attr]
        return self.text[self.at : self.at + 1]

    def fail(self, message: str) -> NoReturn:
        raise json.JSONDecodeError(message, self.text, self.at)

    def value(self) -> Any:
        self.peek()
        self.objects = 0
        value, self.at = self._decoder.raw_decode(self.text, self.at)
        return value

    def members(self) -> Iterator[str]:
        """The keys of the object here; the caller reads each one's value before the next."""
        self.at += 1
        if self.peek() == "}":
            self.at += 1
            return
        while True:
            if self.peek() != '"':
                self.fail("Expecting property name enclosed in double quotes")
            key, self.at = scanstring(self.text, self.at + 1)
            if self.peek() != ":":
                self.fail("Expecting ':' delimiter")
            self.at += 1
            yield key
            if not self._another("}"):
                return

    def items(self) -> Iterator[int]:
        """The indexes of the array here; the caller reads each item before the next."""
        self.at += 1
        if self.peek() == "]":
            self.at += 1
            return
        n = 0
        while True:
            yield n
            n += 1
            if not self._another("]"):
                return

    def _another(self, closing: str) -> bool:
        char = self.peek()
        if char not in (",", closing):
            self.fail("Expecting ',' delimiter")
        self.at += 1
        return char == ","


@dataclass
class Limit:
    """A bound of SPEC G, counted as items arrive: 413 at the first item past it."""

    what: str
    bound: int
    used: int = 0

    def take(self) -> None:
        if self.used >= self.bound:
            raise TooLarge(too_many(self.what, self.bound))
        self.used += 1


class Errors(list[dict[str, Any]]):
    """Validation errors as FastAPI reports them; the first MAX_ERRORS are enough to answer."""

    def add(self, exc: ValidationError, loc: Loc, offset: int | None = None) -> None:
        for error in exc.errors(include_url=False):
            where = tuple(error["loc"])
            if offset is not None:  # a chunk of a list: its first part is the item's index
                where = (offset + int(where[0]), *where[1:])
            self.append({**error, "loc": ("body", *loc, *where)})
        self.stop_if_full()

    def note(self, loc: Loc, msg: str, given: Any) -> None:
        self.append({"type": "value_error", "loc": ("body", *loc), "msg": msg, "input": given})
        self.stop_if_full()

    def stop_if_full(self) -> None:
        if len(self) >= MAX_ERRORS:
            raise RequestValidationError(self)


class Chunks:
    """The items of one list, validated a chunk at a time (a Pydantic call holds the GIL); the
    valid ones handed to `take` with the index of the first."""

    def __init__(
        self,
        errors: Errors,
        adapter: TypeAdapter[list[Any]],
        loc: Loc,
        take: Callable[[int, list[Any]], None],
    ) -> None:
        self.errors, self.adapter, self.loc, self.take = errors, adapter, loc, take
        self.items: list[Any] = []
        self.first = self.chars = 0

    def add(self, item: Any, chars: int) -> None:
        self.items.append(item)
        self.chars += chars
        if len(self.items) >= CHUNK or self.chars >= _CHUNK_CHARS:
            self.flush()

    def flush(self) -> None:
        if self.items:
            try:
                models = self.adapter.validate_python(self.items)
            except ValidationError as exc:
                self.errors.add(exc, self.loc, self.first)
            else:
                self.take(self.first, models)
        self.first += len(self.items)
        self.items, self.chars = [], 0


def json_objects(columns: Sequence[str], rows: list[tuple[Any, ...]]) -> str:
    """Rows as one JSON array of objects (what `jsonb_to_recordset` reads), written a chunk at
    a time: one `json.dumps` of 16 MiB of rows held the GIL for 0.2 s."""
    parts = (
        json.dumps(
            [dict(zip(columns, row, strict=True)) for row in rows[n : n + CHUNK]],
            ensure_ascii=False,
            separators=(",", ":"),
        )[1:-1]
        for n in range(0, len(rows), CHUNK)
    )
    return "[" + ",".join(parts) + "]"
