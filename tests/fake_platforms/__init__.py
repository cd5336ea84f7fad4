"""Local fakes of the real platforms (see ``base``), one module per adapter module."""

from __future__ import annotations

import importlib

from .base import CLIENT_ID, CLIENT_SECRET, FakePlatform, FakePlatforms, FakePlatformsAdapter
from .cdn import CdnFake

MODULES = ("meta", "x", "linkedin", "tiktok", "google", "pinterest", "bluesky")


def fake_classes() -> list[type[FakePlatform]]:
    """Every platform fake, from each module's ``FAKES``."""
    classes: list[type[FakePlatform]] = []
    for name in MODULES:
        classes.extend(importlib.import_module(f"{__name__}.{name}").FAKES)
    return classes


def build() -> FakePlatforms:
    return FakePlatforms([cls() for cls in fake_classes()] + [CdnFake()])


__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CdnFake",
    "FakePlatform",
    "FakePlatforms",
    "FakePlatformsAdapter",
    "build",
    "fake_classes",
]
