"""What a 422 shows of the request: each error as JSON can always carry it, and never more
than a short prefix of what was sent (a body may be megabytes, or hold NaN and lone
surrogates)."""

import math
import reprlib
from collections.abc import Sequence
from typing import Any

# A 422 says what was wrong and shows a little of what was sent: never more than this, in at
# most MAX_ERRORS errors.
MAX_ECHO = 100
MAX_ERRORS = 20
_PREVIEW = reprlib.Repr()
_PREVIEW.maxlevel, _PREVIEW.maxdict, _PREVIEW.maxlist = 2, 4, 4
_PREVIEW.maxstring = _PREVIEW.maxlong = _PREVIEW.maxother = 30


def _clip(text: str, limit: int = MAX_ECHO) -> str:
    # Lone surrogates (allowed in JSON escapes, not in UTF-8) become U+FFFD.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _echo(value: Any) -> Any:
    """A short stand-in for a piece of the request that JSON can always carry."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else _clip(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, dict) and len(value) <= 4:
        small = {_clip(str(key)): _echo(item) for key, item in value.items()}
        if len(repr(small)) <= MAX_ECHO:
            return small
    return _clip(_PREVIEW.repr(value))


def rendered(error: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "type": str(error.get("type", "value_error")),
        "loc": [_echo(part) for part in error.get("loc", ())],
        "msg": _clip(str(error.get("msg", "")), 5 * MAX_ECHO),
    }
    if "input" in error:
        shown["input"] = _echo(error["input"])
    if error.get("ctx"):
        shown["ctx"] = {str(key): _echo(value) for key, value in error["ctx"].items()}
    return shown


def without_null_branches(errors: Sequence[Any]) -> list[Any]:
    """A PATCH field is `X | SkipJsonSchema[None]` (absent is None, null is refused later):
    Pydantic reports a bad value once per branch of that union, under the branches' internal
    names. Keep the error of `X`, under the field's own `loc`."""
    nulls = {
        tuple(error["loc"][:-1])
        for error in errors
        if error.get("type") == "none_required" and error.get("loc", ())[-1:] == ("none",)
    }
    kept = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc[:-1] in nulls:
            if error.get("type") == "none_required":
                continue
            error = {**error, "loc": loc[:-1]}
        kept.append(error)
    return kept
