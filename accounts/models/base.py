"""What every model with a public id shares."""

from __future__ import annotations

import uuid

from django.db import models

from socialhub.api.ids import format_public_id


class PublicIdModel(models.Model):
    """UUID primary key, exposed to clients as ``<ID_PREFIX>_<uuid>``."""

    ID_PREFIX = ""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True

    @property
    def public_id(self) -> str:
        return format_public_id(self.ID_PREFIX, self.id)
