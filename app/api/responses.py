from fastapi import Response
from pydantic import BaseModel


def json_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """Serialise a response model in the endpoint's own thread.

    Returning a model instead would make FastAPI validate it in another worker-pool thread
    *before* the `get_db` teardown commits, i.e. while this request still holds its row locks.
    Under load every worker can be taken by requests waiting for those very locks, and the
    lock holder would then wait for a worker forever. Serialising here keeps a locked
    transaction from ever needing a second worker.
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
