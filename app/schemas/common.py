"""Field types shared by every schema: the input limits of SPEC B7 live here.

Each rule is both validated and declared in the JSON Schema (as `pattern`, `minimum`, ...), so
clients and fuzzers see the same contract the server enforces.
"""

import sys
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_ITEMS = 500
MAX_BAY_NAME_LENGTH = 190
MAX_CHANNELS = 96
MAX_COLOR_LENGTH = 50

# Exactly the characters `str.strip()` removes, so the schema's "not blank" is the server's.
_WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
_CLASS = "".join(f"\\u{ord(c):04x}" for c in _WHITESPACE)
NO_NUL_PATTERN = "^[^\\u0000]*$"
NOT_BLANK_PATTERN = f"^[^\\u0000]*[^\\u0000{_CLASS}][^\\u0000]*$"


def no_nul(value: str) -> str:
    # PostgreSQL text holds neither NUL nor lone surrogates (which JSON's \ud800 escapes can
    # carry and UTF-8 cannot): refused here, they are a 422 instead of a driver error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def integer_not_bool_or_text(value: Any) -> Any:
    # Pydantic's lax mode would take `true` as 1 and "7" as 7: a point id must be a JSON number.
    if isinstance(value, bool | str):
        raise ValueError("must be an integer")
    return value


# An id that fits PostgreSQL's `integer`.
DbInt = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX), BeforeValidator(integer_not_bool_or_text)]

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH),
    AfterValidator(no_nul),
    AfterValidator(not_blank),
    Field(json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
]

# A bay's name: its points are named "{name} {n}T", which must fit a point's 200 characters.
BayName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_BAY_NAME_LENGTH),
    AfterValidator(no_nul),
    AfterValidator(not_blank),
    Field(json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
]

# Free text that may be empty (a cable's label).
Label = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME_LENGTH),
    AfterValidator(no_nul),
    Field(json_schema_extra={"pattern": NO_NUL_PATTERN}),
]

Description = Annotated[
    str,
    StringConstraints(max_length=MAX_DESCRIPTION_LENGTH),
    AfterValidator(no_nul),
    Field(json_schema_extra={"pattern": NO_NUL_PATTERN}),
]

# Port ids are text; the same rules keep a path like /ports/%00/link a 422.
PortId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH),
    AfterValidator(no_nul),
    Field(json_schema_extra={"pattern": NO_NUL_PATTERN}),
]


# Text as the database may hold it (rows typed into pgAdmin too): anything PostgreSQL text can
# hold, within reason. Imports take it, so that what was exported comes back as it was.
StoredText = Annotated[
    str,
    StringConstraints(max_length=10_000),
    AfterValidator(no_nul),
    Field(json_schema_extra={"pattern": NO_NUL_PATTERN}),
]


class ErrorOut(BaseModel):
    detail: str = Field(examples=["Port not found"])


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the `{"detail": ...}` errors an endpoint can return."""
    described = {
        400: "Body is not JSON text at all (e.g. not UTF-8), or the Host is not this server",
        401: "Missing or wrong API key",
        403: "A write from a web page of another site, or by a key whose role may not make it",
        404: "Something the path or the body names does not exist",
        409: "Conflicts with the studio as it is (a taken point or jack, a used name, ...)",
        412: "The studio changed since the revision named in `If-Match`",
        413: "Request body larger than 1 MiB",
        503: "Database unavailable or busy; retry after `Retry-After` seconds",
    }
    return {code: {"model": ErrorOut, "description": described[code]} for code in codes}


# The 201 of a write that made something, with the header naming it.
CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Created",
        "headers": {
            "Location": {"description": "The path of what was made", "schema": {"type": "string"}}
        },
    }
}

# What every write can answer besides its own errors (and the 400 every operation can answer,
# declared once for the whole app in app/main.py).
WRITE_ERRORS = (403,)
BODY_ERRORS = (*WRITE_ERRORS, 413)


class PatchModel(BaseModel):
    """Base of PATCH bodies: every field optional, none nullable (but those listed in
    `nullable`), unknown fields refused.

    Fields are declared `X | SkipJsonSchema[None] = None`: absent means "leave as it is", and the
    schema does not offer null, which the validator below refuses.
    """

    model_config = ConfigDict(extra="forbid")
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in self.model_fields_set - self.nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may be left out but not set to null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def left_out(description: str | None = None) -> Any:
    """Default of an optional field that may not be null: None when absent, and no
    `"default": null` in the schema."""
    return Field(default=None, description=description, json_schema_extra=_drop_default)
