"""API schemas, one module per resource; everything is importable from here as well."""

from app.api.schemas.admin import *  # noqa: F403
from app.api.schemas.base import *  # noqa: F403
from app.api.schemas.base import ERROR_RESPONSES, Created, Instant, ListPublic, Patch, Public, Strict  # noqa: F401
from app.api.schemas.dispatch import *  # noqa: F403
from app.api.schemas.geojson import *  # noqa: F403
from app.api.schemas.map import *  # noqa: F403
from app.api.schemas.planning import *  # noqa: F403
from app.api.schemas.recordings import *  # noqa: F403
from app.api.schemas.requests import *  # noqa: F403
from app.api.schemas.requests import DIVISION_CODE, CameraKind, CameraStatus  # noqa: F401
from app.api.schemas.system import *  # noqa: F403
from app.api.schemas.tracks import *  # noqa: F403
from app.api.schemas.video import *  # noqa: F403
