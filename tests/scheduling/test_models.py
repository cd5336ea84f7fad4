import pytest
from django.db import IntegrityError, transaction

from scheduling.models import PostTarget
from tests.factories import PostTargetFactory

pytestmark = pytest.mark.django_db


def test_a_post_targets_an_account_once():
    target = PostTargetFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        PostTarget.objects.create(
            post=target.post,
            social_account=target.social_account,
            account_platform=target.account_platform,
            account_handle=target.account_handle,
        )


def test_targets_of_disconnected_accounts_do_not_collide():
    """After a disconnect the account is NULL on every target it had; that is fine."""
    first = PostTargetFactory()
    PostTarget.objects.filter(pk=first.pk).update(social_account=None)
    PostTarget.objects.create(
        post=first.post, social_account=None, account_platform="x", account_handle="gone"
    )

    assert PostTarget.objects.filter(post=first.post, social_account=None).count() == 2
