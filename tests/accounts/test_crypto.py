"""OAuth tokens are encrypted at rest with TOKEN_ENCRYPTION_KEYS, a bad key raises instead
of handing back ciphertext, and keys rotate."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from accounts import crypto
from accounts.crypto import TokenDecryptionError, decrypt_token, encrypt_token, reencrypt_token
from accounts.models import SocialAccount, TokenRevocation
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from tests.factories import SocialAccountFactory
from tests.helpers import raw_tokens

pytestmark = pytest.mark.django_db

ACCESS = "access-token-plaintext-1f2e3d"
REFRESH = "refresh-token-plaintext-9a8b7c"


@pytest.fixture
def keys(settings):
    """Switch TOKEN_ENCRYPTION_KEYS within a test; the cipher cache is cleared both ways."""

    def use(*new_keys: str) -> None:
        settings.TOKEN_ENCRYPTION_KEYS = list(new_keys)
        crypto._multifernet.cache_clear()

    yield use
    crypto._multifernet.cache_clear()


def test_account_tokens_are_stored_as_ciphertext(user):
    # when
    account = SocialAccountFactory(user=user, access_token=ACCESS, refresh_token=REFRESH)

    # then: the database holds ciphertext that decrypts to the token
    stored_access, stored_refresh = raw_tokens(SocialAccount, account.pk)
    assert ACCESS not in stored_access
    assert REFRESH not in stored_refresh
    assert decrypt_token(stored_access) == ACCESS
    assert decrypt_token(stored_refresh) == REFRESH
    # and the model hands back the plaintext
    assert SocialAccount.objects.get(pk=account.pk).access_token == ACCESS


def test_an_empty_token_stays_empty(user):
    # when
    account = SocialAccountFactory(user=user, access_token=ACCESS, refresh_token="")

    # then
    assert raw_tokens(SocialAccount, account.pk)[1] == ""
    assert SocialAccount.objects.get(pk=account.pk).refresh_token == ""


def test_outbox_tokens_stay_ciphertext(user, django_capture_on_commit_callbacks):
    # given
    account = SocialAccountFactory(user=user, access_token=ACCESS, refresh_token=REFRESH)

    # when: disconnected, revoke not yet run
    with django_capture_on_commit_callbacks(execute=False):
        social_account_disconnect(
            account=account, actor=Actor.for_user(user), reason=DisconnectReason.REVOKED_BY_USER
        )

    # then
    revocation = TokenRevocation.objects.get()
    stored_access, stored_refresh = raw_tokens(TokenRevocation, revocation.pk)
    assert ACCESS not in stored_access
    assert REFRESH not in stored_refresh
    assert (revocation.access_token, revocation.refresh_token) == (ACCESS, REFRESH)


def test_tokens_never_reach_the_logs(user, caplog, django_capture_on_commit_callbacks):
    # given
    caplog.set_level(logging.DEBUG)
    account = SocialAccountFactory(user=user, access_token=ACCESS, refresh_token=REFRESH)

    # when: the disconnect and the revoke after commit
    with django_capture_on_commit_callbacks(execute=True):
        social_account_disconnect(
            account=account, actor=Actor.for_user(user), reason=DisconnectReason.REVOKED_BY_USER
        )

    # then
    assert "Disconnected" in caplog.text
    assert ACCESS not in caplog.text
    assert REFRESH not in caplog.text
    assert not TokenRevocation.objects.exists()


def test_a_wrong_key_raises_instead_of_returning_ciphertext(user, keys):
    # given: tokens written with the configured key
    account = SocialAccountFactory(user=user, access_token=ACCESS, refresh_token=REFRESH)
    ciphertext = raw_tokens(SocialAccount, account.pk)[0]

    # when: the key list no longer holds that key
    keys(Fernet.generate_key().decode())

    # then
    with pytest.raises(TokenDecryptionError):
        SocialAccount.objects.get(pk=account.pk)
    with pytest.raises(TokenDecryptionError):
        decrypt_token(ciphertext)
    with pytest.raises(TokenDecryptionError):
        decrypt_token("not-a-fernet-token")
    with pytest.raises(TokenDecryptionError):
        reencrypt_token(ciphertext)
    # reading around the tokens still works
    assert SocialAccount.objects.defer("access_token", "refresh_token").get(pk=account.pk)


def test_key_rotation_new_key_first_old_key_still_decrypts(user, keys):
    # given: a token written under the old key
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys(old)
    account = SocialAccountFactory(user=user, access_token=ACCESS, refresh_token=REFRESH)
    old_ciphertext = raw_tokens(SocialAccount, account.pk)[0]

    # when: the new key is put first
    keys(new, old)

    # then: the old token still reads, new writes and re-encryption use the new key
    assert SocialAccount.objects.get(pk=account.pk).access_token == ACCESS
    rotated = reencrypt_token(old_ciphertext)
    fresh = encrypt_token("written-after-rotation")
    keys(new)
    assert decrypt_token(rotated) == ACCESS
    assert decrypt_token(fresh) == "written-after-rotation"
    with pytest.raises(TokenDecryptionError):
        decrypt_token(old_ciphertext)
    keys(old)
    with pytest.raises(TokenDecryptionError):
        decrypt_token(fresh)


@pytest.mark.parametrize("bad_keys", [[], ["not-a-fernet-key"]])
def test_a_bad_key_list_is_a_configuration_error(keys, bad_keys):
    # given
    keys(*bad_keys)

    # when / then
    with pytest.raises(ImproperlyConfigured, match="TOKEN_ENCRYPTION_KEYS"):
        encrypt_token("anything")


def test_an_account_whose_tokens_no_longer_decrypt_can_still_be_disconnected(
    user, keys, sandbox_http, django_capture_on_commit_callbacks
):
    # given: the key the tokens were written with is gone
    account = SocialAccountFactory(user=user, access_token=ACCESS, refresh_token=REFRESH)
    keys(Fernet.generate_key().decode())

    # when
    with django_capture_on_commit_callbacks(execute=True):
        report = social_account_disconnect(
            account=account, actor=Actor.for_user(user), reason=DisconnectReason.REVOKED_BY_USER
        )

    # then: the disconnect never needed the plaintext; the revoke gives up without sending
    # anything upstream, and the undecryptable copy is not kept
    assert report.social_account_id == account.public_id
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert sandbox_http.calls == []
    assert not TokenRevocation.objects.exists()
