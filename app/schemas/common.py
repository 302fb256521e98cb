"""Field types shared by every schema: the input limits of SPEC B7 live here."""

from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
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


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps it a 422 instead of a driver error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# An id that fits PostgreSQL's `integer`.
DbInt = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH),
    AfterValidator(_no_nul),
    AfterValidator(_not_blank),
]

Description = Annotated[
    str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH), AfterValidator(_no_nul)
]

# Port ids are text; the same rules keep a path like /ports/%00/link a 422.
PortId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH), AfterValidator(_no_nul)
]


class ErrorOut(BaseModel):
    detail: str = Field(examples=["Port not found"])


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the `{"detail": ...}` errors an endpoint can return."""
    described = {
        401: "Missing or wrong API key",
        404: "The device, port or patchbay point does not exist",
        409: "The patchbay point is taken or in use",
        413: "Request body larger than 1 MiB",
        503: "Database unavailable or busy; retry after `Retry-After` seconds",
    }
    return {code: {"model": ErrorOut, "description": described[code]} for code in codes}


class PatchModel(BaseModel):
    """Base of PATCH bodies: every field optional, none nullable, unknown fields refused."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may be left out but not set to null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
