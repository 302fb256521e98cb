from pydantic import BaseModel, ConfigDict


class PointRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {"id": 1, "name": "A1", "description": "Top row, jack 1", "type": "standard"}
            ]
        },
    )

    id: int
    name: str
    description: str
    type: str
