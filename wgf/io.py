"""HDF5 results files (SPEC section 10 layout).

``ResultsFile`` writes into ``OUT.h5.partial`` and renames it to ``OUT.h5`` only
when the run completes (``os.replace`` is atomic on POSIX), so a killed run
never leaves a truncated file under the final name. All arrays are float64.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from ._version import __version__

__all__ = ["ResultsFile", "partial_path"]


def partial_path(path) -> Path:
    """Where a results file is written until it is complete."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


class ResultsFile:
    """Context manager around an HDF5 results file being written.

    On normal exit the file is closed and moved to its final name; on an
    exception it is closed and left as ``*.partial``.
    """

    def __init__(self, path, config_text: str = ""):
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.file = h5py.File(self.tmp, "w")
        self.file.attrs["wgf_version"] = __version__
        self.file.attrs["config"] = config_text

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.file.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        return False

    def dataset(self, name: str, shape, *, chunks=None, attrs=None):
        """Create a float64 dataset filled with zeros (chunked for per-snapshot writes)."""
        ds = self.file.create_dataset(name, shape=tuple(shape), dtype="f8", chunks=chunks, fillvalue=0.0)
        for k, v in (attrs or {}).items():
            ds.attrs[k] = v
        return ds

    def write(self, name: str, data, attrs=None):
        """Write a whole float64 array."""
        ds = self.file.create_dataset(name, data=np.asarray(data, dtype="f8"))
        for k, v in (attrs or {}).items():
            ds.attrs[k] = v
        return ds

    def flush(self):
        self.file.flush()
