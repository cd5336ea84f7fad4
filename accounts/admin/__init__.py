"""Django admin for staff. Tokens are never displayed, not even encrypted; social accounts
leave only through the disconnect service (the "Disconnect selected social accounts" and
"Offboard workspace" actions), never through a plain or cascading delete."""

from django.contrib import admin

from . import keys, records, social, users, webhooks
from .login import rate_limited

admin.site.login = rate_limited(admin.site.login)
admin.site.site_header = "socialhub staff admin"
admin.site.site_title = "socialhub staff admin"
admin.site.index_title = "Accounts, posts and partner access"

__all__ = ["keys", "records", "social", "users", "webhooks"]
