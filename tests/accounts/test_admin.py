"""Staff in the admin: tokens stay hidden and accounts cannot be deleted around the
disconnect."""

from __future__ import annotations

import pytest

from accounts.models import SocialAccount, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = User.objects.create_superuser("staff@example.com", "harbor-lantern-orbit-9")
    client.force_login(staff)
    return client


def test_admin_cannot_delete_a_social_account(staff_client, account):
    page = staff_client.get(f"/admin/accounts/socialaccount/{account.pk}/delete/")
    changelist = staff_client.get("/admin/accounts/socialaccount/")

    assert page.status_code == 403
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_admin_never_shows_tokens(staff_client, account):
    page = staff_client.get(f"/admin/accounts/socialaccount/{account.pk}/change/")
    raw = SocialAccount.objects.filter(pk=account.pk).values_list("access_token", flat=True)[0]

    html = page.content.decode()
    assert page.status_code == 200
    assert account.platform_username in html
    assert raw not in html
    assert "access_token" not in html and "refresh_token" not in html
