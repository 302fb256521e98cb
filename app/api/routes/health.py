from fastapi import APIRouter

router = APIRouter(tags=["Health"])


@router.get("/health", summary="Liveness check")
def health() -> dict[str, str]:
    """Answers `{"status": "ok"}` while the process is up; touches no database."""
    return {"status": "ok"}
