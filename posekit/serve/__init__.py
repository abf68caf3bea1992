"""The pose service: ``create_app(ServeConfig(...))`` builds a FastAPI app with REST routes
(images, video jobs), a WebSocket stream and a live web page; ``posekit serve`` runs it.

Needs the ``serve`` extra (FastAPI, uvicorn, python-multipart, websockets)::

    pip install 'posekit[serve]'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .app import ServeConfig, create_app

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name: str):
    if name in __all__:
        try:
            from . import app
        except ImportError as e:
            from ..errors import MissingExtraError

            raise MissingExtraError(f"posekit serve ({e.name or e})", "serve") from e
        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
