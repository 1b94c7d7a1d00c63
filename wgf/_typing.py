"""Type aliases used in the annotations of the public API."""

from __future__ import annotations

import os

__all__ = ["PathLike"]

PathLike = str | os.PathLike
"""A file or folder path: a string or an ``os.PathLike`` (``pathlib.Path``)."""
