from typing import Annotated, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.schemas.common import (
    MAX_COLOR_LENGTH,
    NOT_BLANK_PATTERN,
    DbInt,
    Label,
    PatchModel,
    left_out,
    no_nul,
    not_blank,
)

# Free text ("red", "#ff0000", "blue, 30 cm").
Color = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_COLOR_LENGTH),
    AfterValidator(no_nul),
    AfterValidator(not_blank),
    Field(json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
]
_EXAMPLE: dict[str, JsonValue] = {"points": [3, 10], "label": "Juno to comp", "color": "red"}


class CableCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    points: list[DbInt] = Field(
        min_length=2,
        max_length=2,
        description="The two jacks (points) the cable joins.",
        json_schema_extra={"uniqueItems": True},
    )
    label: Label = ""
    color: Color | None = None

    @model_validator(mode="after")
    def _two_jacks(self) -> Self:
        if self.points[0] == self.points[1]:
            raise ValueError("a cable joins two different points")
        return self


class CableRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 1, **_EXAMPLE}]})

    id: int
    points: list[int]
    label: str
    color: str | None


class CableUpdate(PatchModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"label": "Juno to comp"}, {"color": None}]}
    )
    nullable: ClassVar[frozenset[str]] = frozenset({"color"})

    label: Label | SkipJsonSchema[None] = left_out()
    color: Color | None = left_out()
