"""The service's own settings, plus the ceiling view's URL (see ``bench/urls.py``)."""

from socialhub.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
