"""Bearer authentication for the API: user JWTs (simplejwt)."""

from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTAuthentication


class BearerJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <jwt>``; answers 401 with the envelope on a bad token."""

    www_authenticate_realm = "api"
