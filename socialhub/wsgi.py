"""WSGI entry point (gunicorn socialhub.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialhub.settings")
application = get_wsgi_application()
