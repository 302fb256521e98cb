from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.json_schema import SkipJsonSchema

from app.schemas.common import MAX_ITEMS, Description, Name, PatchModel, left_out

_EXAMPLE: dict[str, JsonValue] = {
    "name": "A1",
    "description": "Top row, jack 1",
    "type": "standard",
}


class PointRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [{"id": 1, **_EXAMPLE}]}
    )

    id: int
    name: str
    description: str
    type: str


class PointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    name: Name
    description: Description = ""
    type: Name = "standard"


class PointBulkCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "points": [
                        {"name": "A1", "description": "Top row, jack 1"},
                        {"name": "A2", "description": "Top row, jack 2"},
                        {"name": "B1", "type": "normalled"},
                    ]
                }
            ]
        },
    )

    points: list[PointCreate] = Field(min_length=1, max_length=MAX_ITEMS)


class PointUpdate(PatchModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "A1 (Juno)"}, {"type": "half-normalled"}]}
    )

    name: Name | SkipJsonSchema[None] = left_out()
    description: Description | SkipJsonSchema[None] = left_out()
    type: Name | SkipJsonSchema[None] = left_out()
