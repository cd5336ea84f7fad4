"""Serializers that write their representation directly say what DRF's field-by-field walk
of their declared fields (the documented schema) would say."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework import serializers

from accounts import selectors
from accounts.models import Platform
from accounts.serializers import CreatorSocialItem, SocialAccountItem
from accounts.services.actors import Actor
from socialhub.api.fields import wire_datetime
from tests.factories import SocialAccountFactory, UserFactory, personal_workspace

pytestmark = pytest.mark.django_db


def declared(serializer_class, instance) -> dict:
    """The representation DRF builds from the declared fields."""
    return serializers.Serializer.to_representation(serializer_class(), instance)


@pytest.fixture
def accounts():
    """Accounts with every kind of value: nulls and set dates, metrics or none, a Pinterest
    board, odd scopes, microseconds or none."""
    user = UserFactory()
    exact = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    return user, [
        SocialAccountFactory(user=user, platform=Platform.X, followers=1234),
        SocialAccountFactory(
            user=user,
            platform=Platform.PINTEREST,
            platform_username=None,
            display_name=None,
            avatar_url="https://cdn.example/a.png",
            metadata={"default_board_id": 42, "boards": [{"id": 42, "name": "Main"}]},
            scopes=[],
            token_expires_at=None,
            last_refreshed_at=exact,
            last_refresh_attempt_at=exact + dt.timedelta(microseconds=1),
            last_refresh_error="upstream 500",
            last_refresh_http_status=500,
            connected_at=exact - dt.timedelta(days=3),
        ),
        SocialAccountFactory(user=user, platform=Platform.BLUESKY, metadata={"x": None}),
    ]


def test_listed_accounts_read_as_their_declared_fields(accounts):
    user, created = accounts
    actor = Actor.for_user(user)

    grouped = selectors.social_accounts_by_platform_for_caller(
        actor=actor, workspace_id=personal_workspace(user).pk
    )

    rows = [row for platform_rows in grouped.values() for row in platform_rows]
    assert len(rows) == len(created)
    for row in rows:
        account = selectors.social_account_get_for_caller(actor=actor, account_id=row.id)
        expected = declared(SocialAccountItem, account)
        assert SocialAccountItem().to_representation(row) == expected
        assert SocialAccountItem().to_representation(account) == expected


def test_creator_rows_read_as_their_declared_fields(accounts):
    user, created = accounts

    rows = selectors.social_account_list_for_creator(user=user)

    assert len(rows) == len(created)
    for row in rows:
        assert CreatorSocialItem().to_representation(row) == declared(CreatorSocialItem, row)


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2026, 1, 2, 3, 4, 5),
        None,
    ],
)
@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_wire_datetime_writes_what_the_field_writes(value, zone):
    with timezone.override(zone):
        assert wire_datetime(value) == serializers.DateTimeField().to_representation(value)
        current = timezone.get_current_timezone()
        assert wire_datetime(value, current) == wire_datetime(value)
