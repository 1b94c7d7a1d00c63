"""HDF5 results files (SPEC section 10 layout).

``ResultsFile`` writes into ``OUT.h5.partial`` and renames it to ``OUT.h5`` only
when the run completes (``os.replace`` is atomic on POSIX), so a killed run
never leaves a truncated file under the final name. All arrays are float64.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py
import numpy as np

from ._version import __version__

__all__ = ["ResultsFile", "partial_path", "ResumeError"]

log = logging.getLogger("wgf")


class ResumeError(ValueError):
    """A partial results file cannot be resumed with this config."""


def partial_path(path) -> Path:
    """Where a results file is written until it is complete."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


class ResultsFile:
    """Context manager around an HDF5 results file being written.

    On normal exit the file is closed and moved to its final name; on an
    exception it is closed and left as ``*.partial``.
    """

    def __init__(self, path, config_text: str = "", *, resume: bool = False):
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.file = None
        if resume and self.tmp.exists():
            try:
                self.file = h5py.File(self.tmp, "r+")
            except OSError:
                log.warning("'%s' is unreadable (killed during a write?): starting over", self.tmp)
            else:
                if "config" not in self.file.attrs:  # killed before its header was written
                    self.file.close()
                    self.file = None
                    log.warning("'%s' has no header (killed as it was created?): starting over", self.tmp)
                elif self.file.attrs.get("config") != config_text:
                    self.file.close()
                    raise ResumeError(f"'{self.tmp}' was written by a different config: cannot resume it")
                else:
                    log.info("resuming '%s'", self.tmp)
        if self.file is None:
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
        """A float64 dataset filled with zeros (chunked for per-snapshot writes); an existing one
        of the same shape (a resumed file) is returned as it is."""
        if name in self.file and self.file[name].shape == tuple(shape):
            return self.file[name]
        if name in self.file:
            del self.file[name]
        ds = self.file.create_dataset(name, shape=tuple(shape), dtype="f8", chunks=chunks, fillvalue=0.0)
        for k, v in (attrs or {}).items():
            ds.attrs[k] = v
        return ds

    def write(self, name: str, data, attrs=None):
        """Write a whole float64 array (replacing one of that name)."""
        if name in self.file:
            del self.file[name]
        ds = self.file.create_dataset(name, data=np.asarray(data, dtype="f8"))
        for k, v in (attrs or {}).items():
            ds.attrs[k] = v
        return ds

    def flush(self):
        self.file.flush()
