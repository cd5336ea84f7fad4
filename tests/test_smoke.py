import pytest

from accounts.models import CreatorProfile

pytestmark = pytest.mark.django_db


def test_account_factory_moves_total_followers(account):
    profile = CreatorProfile.objects.get(user=account.user)
    assert profile.total_followers == 1200
