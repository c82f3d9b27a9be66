"""Installed versions of the packages behind a number, recorded with every run, bundle and benchmark."""

from __future__ import annotations

import importlib.metadata
import platform


def library_versions(*packages: str) -> dict[str, str]:
    """Python's version and each installed distribution's (packages that are not installed are left out)."""
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions
