"""Model field that stores a secret encrypted and hands back the plaintext."""

from __future__ import annotations

from django.db import models

from .crypto import decrypt_token, encrypt_token


class EncryptedTextField(models.TextField):
    """Encrypted with MultiFernet on the way in, decrypted on the way out.

    Empty values are stored as the empty string so "no token" needs no ciphertext. A value
    that does not decrypt raises ``TokenDecryptionError`` instead of leaking ciphertext.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_token(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_token(value)
