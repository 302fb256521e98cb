from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.roles import role_var
from app.core.config import Role
from app.core.logging import actor_var
from app.schemas.common import error_responses

router = APIRouter(tags=["Access"])


class Whoami(BaseModel):
    actor: str | None = Field(
        description="The name of the key used (null for API_KEY's, or with no keys)",
        examples=["wall-display"],
    )
    role: Role = Field(description="What that key may do", examples=["read"])


@router.get("/whoami", response_model=Whoami, summary="Who am I?", responses=error_responses())
def whoami() -> dict[str, str | None]:
    """The key this request came with: its name and its role. `read` keys may only read,
    `patch` keys may also change the patch of what exists (link, unlink, cables, channel
    modes, applying a scene, previewing a patch), `admin` keys everything. Without keys
    configured, everyone is `admin` with no name."""
    return {"actor": actor_var.get(), "role": role_var.get()}
