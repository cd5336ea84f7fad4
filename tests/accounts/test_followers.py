"""CreatorProfile.total_followers follows the creator's accounts through the SocialMetrics
signals, and the explicit recompute covers what sends no signal."""

from __future__ import annotations

import pytest

from accounts.models import Platform, SocialMetrics
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from accounts.services.followers import (
    creator_followers_recompute,
    creator_followers_recompute_for_account,
    creator_followers_repair,
)
from tests.factories import SocialAccountFactory, UserFactory
from tests.helpers import followers_of

pytestmark = pytest.mark.django_db


def test_total_followers_follows_connect_change_and_disconnect(user):
    # given: a creator with nothing connected, and a stranger
    stranger = SocialAccountFactory(followers=50)
    assert followers_of(user) == 0

    # when / then: connecting (metrics created)
    instagram = SocialAccountFactory(user=user, platform=Platform.INSTAGRAM, followers=1200)
    assert followers_of(user) == 1200
    x = SocialAccountFactory(user=user, platform=Platform.X, followers=800)
    assert followers_of(user) == 2000

    # when / then: a metrics sync saves new counts
    metrics = SocialMetrics.objects.get(social_account=x)
    metrics.follower_count = 900
    metrics.save()
    assert followers_of(user) == 2100

    # when / then: disconnecting one (the cascade deletes its metrics)
    social_account_disconnect(
        account=instagram, actor=Actor.for_user(user), reason=DisconnectReason.REVOKED_BY_USER
    )
    assert followers_of(user) == 900

    # and the stranger never moved
    assert followers_of(stranger.user) == 50


def test_deleting_a_metrics_row_recomputes_the_total(user, account):
    # given
    SocialAccountFactory(user=user, platform=Platform.X, followers=800)

    # when
    account.metrics.delete()

    # then
    assert followers_of(user) == 800


def test_a_metrics_save_recomputes_with_one_aggregate_update(
    user, account, django_assert_num_queries
):
    # given
    metrics = SocialMetrics.objects.get(social_account=account)
    metrics.follower_count = 1500

    # when: the row's UPDATE, the profile's lock, the profile's one UPDATE
    with django_assert_num_queries(3) as captured:
        metrics.save()

    # then
    lock, recompute = (" ".join(q["sql"].split()) for q in captured.captured_queries[1:])
    assert lock.startswith("SELECT COUNT(*) FROM ( SELECT p.id")
    assert lock.endswith("FOR UPDATE OF p ) AS locked")
    assert recompute.startswith('UPDATE "accounts_creatorprofile"') and "SUM(" in recompute
    assert followers_of(user) == 1500


def test_queryset_update_sends_no_signal_so_recompute_explicitly(user, account):
    # given
    SocialAccountFactory(user=user, platform=Platform.X, followers=800)

    # when: a bulk write (what a metrics sync could be tempted to do)
    SocialMetrics.objects.filter(social_account=account).update(follower_count=5000)

    # then: QuerySet.update sends no signal, so the total is stale
    assert followers_of(user) == 2000

    # when: the explicit recompute
    creator_followers_recompute(user_id=user.pk)

    # then
    assert followers_of(user) == 5800


def test_recompute_for_account_and_for_everyone(user, account):
    # given: two creators with stale totals
    other = UserFactory()
    SocialAccountFactory(user=other, followers=300)
    SocialMetrics.objects.update(follower_count=10)
    assert (followers_of(user), followers_of(other)) == (1200, 300)

    # when
    creator_followers_recompute_for_account(social_account_id=account.pk)

    # then: only that account's creator is fixed
    assert (followers_of(user), followers_of(other)) == (10, 300)

    # when
    corrected = creator_followers_repair()

    # then: every profile is right, and only the one that was off is reported
    assert corrected == [(other.email, 300, 10)]
    assert (followers_of(user), followers_of(other)) == (10, 10)


def test_recompute_of_a_creator_without_accounts_is_zero(user, account):
    # given: a stale total and no metrics left (bulk delete sends no signal either)
    SocialMetrics.objects.filter(social_account=account)._raw_delete(using="default")
    assert followers_of(user) == 1200

    # when
    creator_followers_recompute(user_id=user.pk)

    # then
    assert followers_of(user) == 0
