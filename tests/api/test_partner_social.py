"""HTTP tests of the workspace social-account API: list, read, disconnect, lease release,
as a workspace member (JWT) and as a workspace API key, with the per-key write limit."""

from __future__ import annotations

import datetime as dt
import json
import logging
import types
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from accounts import selectors
from accounts.models import (
    ApiKey,
    AuditEvent,
    InboxItem,
    Lease,
    Membership,
    MetricsSnapshot,
    Platform,
    SocialAccount,
    SocialMetrics,
    TokenRevocation,
    WebhookDelivery,
)
from accounts.services.actors import Actor
from accounts.services.disconnect import social_account_disconnect
from accounts.tasks import token_revocations_sweep_task, webhook_deliveries_sweep_task
from scheduling.models import PostTarget, ScheduledPost
from tests.celery_worker import broker_unreachable
from tests.factories import (
    InboxItemFactory,
    LeaseFactory,
    MetricsSnapshotFactory,
    PostTargetFactory,
    SocialAccountFactory,
    UserFactory,
    account_with_history,
    add_member,
    api_key_for,
    personal_workspace,
    sandbox_connected_account,
    shared_workspace,
)
from tests.helpers import (
    account_url,
    assert_error,
    assert_success,
    bearer_client,
    database_state,
    followers_of,
    key_client,
    leased_url,
    live_credentials,
    run_concurrently,
)
from tests.webhook_receiver import Receiver, endpoint_for

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/social-accounts"
READ = ApiKey.Scope.SOCIAL_READ
WRITE = ApiKey.Scope.SOCIAL_WRITE
Role = Membership.Role
TargetStatus = PostTarget.Status
SOME_UUID = uuid.UUID("abcdef12-3456-4789-abcd-ef1234567890")

ROW_KEYS = {
    "id",
    "workspaceId",
    "connectedBy",
    "platform",
    "platformUserId",
    "platformUsername",
    "displayName",
    "avatarUrl",
    "accountType",
    "verified",
    "status",
    "statusReason",
    "scopes",
    "followerCount",
    "connectedAt",
    "lastRefreshedAt",
    "tokenExpiresAt",
    "lastRefreshAttemptAt",
    "lastRefreshError",
    "lastRefreshHttpStatus",
    "metadata",
    "defaultBoardId",
    "updatedAt",
}
REPORT_KEYS = {
    "socialAccountId",
    "status",
    "disconnectedReason",
    "canceledScheduledPosts",
    "purged",
    "disconnectedAt",
    "dryRun",
}
DATE_KEYS = {
    "connectedAt": "connected_at",
    "lastRefreshedAt": "last_refreshed_at",
    "tokenExpiresAt": "token_expires_at",
    "lastRefreshAttemptAt": "last_refresh_attempt_at",
    "updatedAt": "updated_at",
}


def grouped(response) -> dict[str, list[dict]]:
    data = assert_success(response)
    assert set(data) == {"socialAccounts"}
    return data["socialAccounts"]


def ids_in(groups: dict[str, list[dict]]) -> set[str]:
    return {row["id"] for rows in groups.values() for row in rows}


def assert_row_describes(row: dict, account: SocialAccount, *, followers: int | None) -> None:
    """Every field of ``row`` against the stored account, dates compared as instants."""
    account = SocialAccount.objects.get(pk=account.pk)
    assert set(row) == ROW_KEYS
    for key, attribute in DATE_KEYS.items():
        stored = getattr(account, attribute)
        assert (parse_datetime(row[key]) if row[key] is not None else None) == stored, key
    plain = {key: value for key, value in row.items() if key not in DATE_KEYS}
    board = account.metadata.get("default_board_id") if account.platform == "pinterest" else None
    assert plain == {
        "id": account.public_id,
        "workspaceId": account.workspace.public_id,
        "connectedBy": account.user.public_id,
        "platform": account.platform,
        "platformUserId": account.platform_user_id,
        "platformUsername": account.platform_username,
        "displayName": account.display_name,
        "avatarUrl": account.avatar_url,
        "accountType": account.account_type,
        "verified": account.verified,
        "status": account.status,
        "statusReason": account.status_reason,
        "scopes": account.scopes,
        "followerCount": followers,
        "lastRefreshError": account.last_refresh_error,
        "lastRefreshHttpStatus": account.last_refresh_http_status,
        "metadata": account.metadata,
        "defaultBoardId": board,
    }


def assert_no_tokens(response, *accounts: SocialAccount) -> None:
    body = response.content.decode()
    for account in accounts:
        assert account.access_token and account.access_token not in body
        assert account.refresh_token and account.refresh_token not in body
    assert "accessToken" not in body and "refreshToken" not in body


@pytest.fixture
def team():
    """A shared workspace: owner, admin and member, each with an account connected in it;
    the owner also has an account in their personal workspace."""
    owner, admin, member = UserFactory(), UserFactory(), UserFactory()
    workspace = shared_workspace(owner, name="Agency")
    add_member(workspace, admin, Role.ADMIN)
    add_member(workspace, member, Role.MEMBER)
    now = timezone.now()
    accounts = types.SimpleNamespace(
        owner=SocialAccountFactory(
            user=owner,
            workspace=workspace,
            platform=Platform.INSTAGRAM,
            followers=1000,
            connected_at=now - dt.timedelta(days=3),
        ),
        admin=SocialAccountFactory(
            user=admin,
            workspace=workspace,
            platform=Platform.INSTAGRAM,
            followers=200,
            connected_at=now - dt.timedelta(days=9),
        ),
        member=SocialAccountFactory(
            user=member,
            workspace=workspace,
            platform=Platform.X,
            followers=30,
            connected_at=now - dt.timedelta(days=1),
        ),
        personal=SocialAccountFactory(user=owner, platform=Platform.YOUTUBE, followers=7),
    )
    _key, secret = api_key_for(workspace, scopes=[READ, WRITE])
    return types.SimpleNamespace(
        workspace=workspace,
        owner=owner,
        admin=admin,
        member=member,
        accounts=accounts,
        key=_key,
        secret=secret,
    )


# GET social-accounts -----------------------------------------------------------------


def test_list_groups_every_platform_with_empty_lists_for_a_new_user():
    user = UserFactory()

    groups = grouped(bearer_client(user).get(LIST_URL))

    assert list(groups) == list(Platform.values)
    assert all(rows == [] for rows in groups.values())


def test_list_row_has_every_field_and_no_token():
    user = UserFactory()
    account = SocialAccountFactory(
        user=user,
        platform=Platform.X,
        followers=4321,
        avatar_url="https://cdn.example.com/a.png",
        account_type="business",
        verified=False,
        status=SocialAccount.Status.TOKEN_EXPIRED,
        status_reason="refresh failed",
        last_refreshed_at=timezone.now() - dt.timedelta(hours=5),
        last_refresh_attempt_at=timezone.now() - dt.timedelta(minutes=5),
        last_refresh_error="invalid_grant",
        last_refresh_http_status=400,
        metadata={"default_board_id": "not-pinterest", "tier": "blue"},
    )

    response = bearer_client(user).get(LIST_URL)

    groups = grouped(response)
    assert set(groups) == set(Platform.values)
    assert [len(rows) for platform, rows in groups.items() if platform != "x"] == [0] * 10
    [row] = groups["x"]
    assert_row_describes(row, account, followers=4321)
    assert row["defaultBoardId"] is None  # only pinterest has a default board
    assert_no_tokens(response, account)


def test_list_shows_the_pinterest_default_board_and_null_followers_without_metrics():
    user = UserFactory()
    board = SocialAccountFactory(
        user=user, platform=Platform.PINTEREST, metadata={"default_board_id": "board-77"}
    )
    no_board = SocialAccountFactory(user=UserFactory(), platform=Platform.PINTEREST, metadata={})
    add_member(no_board.workspace, user, Role.MEMBER)

    groups = grouped(bearer_client(user).get(LIST_URL))

    rows = {row["id"]: row for row in groups["pinterest"]}
    assert rows[board.public_id]["defaultBoardId"] == "board-77"
    assert rows[no_board.public_id]["defaultBoardId"] is None
    assert_row_describes(rows[board.public_id], board, followers=None)


def test_list_as_a_user_covers_every_workspace_they_belong_to_oldest_first(team):
    stranger = SocialAccountFactory(platform=Platform.INSTAGRAM)

    for user in (team.owner, team.admin, team.member):
        groups = grouped(bearer_client(user).get(LIST_URL))

        expected = {team.accounts.owner, team.accounts.admin, team.accounts.member}
        if user == team.owner:
            expected.add(team.accounts.personal)
        assert ids_in(groups) == {account.public_id for account in expected}
        # Two instagram accounts of the team: the older (admin's, 9 days) first.
        assert [row["id"] for row in groups["instagram"]] == [
            team.accounts.admin.public_id,
            team.accounts.owner.public_id,
        ]
        assert stranger.public_id not in ids_in(groups)


def test_list_as_a_key_covers_its_own_workspace_only(team):
    SocialAccountFactory(platform=Platform.THREADS)  # another tenant's

    response = key_client(team.secret).get(LIST_URL)

    groups = grouped(response)
    assert list(groups) == list(Platform.values)
    assert ids_in(groups) == {
        team.accounts.owner.public_id,
        team.accounts.admin.public_id,
        team.accounts.member.public_id,
    }
    assert_row_describes(groups["x"][0], team.accounts.member, followers=30)
    assert_no_tokens(response, *vars(team.accounts).values())


def test_list_filtered_to_one_workspace(team):
    personal = personal_workspace(team.owner)
    client = bearer_client(team.owner)

    shared = grouped(client.get(LIST_URL, {"workspace": team.workspace.public_id}))
    own = grouped(client.get(LIST_URL, {"workspace": personal.public_id}))
    by_key = grouped(key_client(team.secret).get(LIST_URL, {"workspace": team.workspace.public_id}))

    assert (
        ids_in(shared)
        == ids_in(by_key)
        == {
            team.accounts.owner.public_id,
            team.accounts.admin.public_id,
            team.accounts.member.public_id,
        }
    )
    assert ids_in(own) == {team.accounts.personal.public_id}
    assert list(own) == list(Platform.values)


def test_list_filtered_to_a_workspace_the_caller_is_not_in_is_404(team):
    outsider = UserFactory()
    SocialAccountFactory(user=outsider, platform=Platform.X)
    outsider_space = personal_workspace(outsider)

    as_user = bearer_client(team.member).get(LIST_URL, {"workspace": outsider_space.public_id})
    as_key = key_client(team.secret).get(LIST_URL, {"workspace": outsider_space.public_id})
    # The key's own creator's personal workspace is not the key's workspace either.
    key_elsewhere = key_client(team.secret).get(
        LIST_URL, {"workspace": personal_workspace(team.owner).public_id}
    )
    unknown = bearer_client(team.member).get(LIST_URL, {"workspace": f"ws_{uuid.uuid4()}"})

    for response in (as_user, as_key, key_elsewhere, unknown):
        assert_error(response, 404, "NOT_FOUND", "workspace.not_found")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "nope",
        "ws_",
        "ws_not-a-uuid",
        f"sa_{SOME_UUID}",
        str(SOME_UUID),
        f"ws_{str(SOME_UUID).upper()}",
        f"ws_{SOME_UUID.hex}",
    ],
)
def test_list_with_a_malformed_workspace_is_400(team, value):
    for client in (bearer_client(team.owner), key_client(team.secret)):
        error = assert_error(client.get(LIST_URL, {"workspace": value}), 400, "VALIDATION")

        assert [item["field"] for item in error["details"]] == ["workspace"]


def test_list_query_count_does_not_grow_with_accounts(django_assert_num_queries):
    owner = UserFactory()
    workspace = shared_workspace(owner)
    _key, secret = api_key_for(workspace, scopes=[READ])
    users = [owner] + [UserFactory() for _ in range(7)]
    for user in users[1:]:
        add_member(workspace, user, Role.MEMBER)
    SocialAccountFactory(user=owner, workspace=workspace, platform=Platform.X, followers=1)
    user_client, partner = bearer_client(owner), key_client(secret)
    filtered = {"workspace": workspace.public_id}
    assert_success(partner.get(LIST_URL))  # the key's first use writes last_used_at
    measured = {}
    for name, client, query in (
        ("user", user_client, None),
        ("user filtered", user_client, filtered),
        ("key", partner, None),
        ("key filtered", partner, filtered),
    ):
        with CaptureQueriesContext(connection) as one:
            assert len(ids_in(grouped(client.get(LIST_URL, query)))) == 1
        measured[name] = len(one.captured_queries)
    for index, platform in enumerate(list(Platform.values)[1:8]):
        SocialAccountFactory(
            user=users[index % 3], workspace=workspace, platform=platform, followers=5
        )
    SocialAccountFactory(user=users[4], workspace=workspace, platform=Platform.X, followers=2)

    for name, client, query in (
        ("user", user_client, None),
        ("user filtered", user_client, filtered),
        ("key", partner, None),
        ("key filtered", partner, filtered),
    ):
        with django_assert_num_queries(measured[name]):
            assert len(ids_in(grouped(client.get(LIST_URL, query)))) == 9
    assert measured["user"] <= 2 and measured["key"] <= 2


# GET social-accounts/{id} ------------------------------------------------------------


def test_read_shows_the_account_and_its_targets_by_status(team):
    account = team.accounts.admin
    for status, how_many in (
        (TargetStatus.QUEUED, 3),
        (TargetStatus.PUBLISHED, 2),
        (TargetStatus.FAILED, 1),
    ):
        PostTargetFactory.create_batch(how_many, social_account=account, status=status)
    PostTargetFactory(social_account=team.accounts.owner, status=TargetStatus.CANCELED)

    for client in (bearer_client(team.member), key_client(team.secret)):
        response = client.get(account_url(account))

        data = assert_success(response)
        assert set(data) == {"socialAccount", "usage"}
        assert_row_describes(data["socialAccount"], account, followers=200)
        assert sorted(data["usage"], key=lambda item: item["status"]) == [
            {"status": "failed", "count": 1},
            {"status": "published", "count": 2},
            {"status": "queued", "count": 3},
        ]
        assert_no_tokens(response, account)


def test_read_of_an_account_without_targets_has_empty_usage(team):
    data = assert_success(bearer_client(team.owner).get(account_url(team.accounts.personal)))

    assert data["usage"] == []
    assert data["socialAccount"]["id"] == team.accounts.personal.public_id


def test_read_query_count_does_not_grow_with_targets_or_accounts(team, django_assert_num_queries):
    account = team.accounts.owner
    PostTargetFactory(social_account=account, status=TargetStatus.QUEUED)
    partner, user_client = key_client(team.secret), bearer_client(team.admin)
    assert_success(partner.get(account_url(account)))  # first use writes last_used_at
    with CaptureQueriesContext(connection) as small_key:
        assert_success(partner.get(account_url(account)))
    with CaptureQueriesContext(connection) as small_user:
        assert_success(user_client.get(account_url(account)))
    for status in TargetStatus.values:
        PostTargetFactory.create_batch(4, social_account=account, status=status)
    for platform in (Platform.THREADS, Platform.BLUESKY, Platform.YOUTUBE):
        SocialAccountFactory(user=team.admin, workspace=team.workspace, platform=platform)

    with django_assert_num_queries(len(small_key.captured_queries)):
        usage = assert_success(partner.get(account_url(account)))["usage"]
    with django_assert_num_queries(len(small_user.captured_queries)):
        assert_success(user_client.get(account_url(account)))
    assert {item["status"]: item["count"] for item in usage} == {
        "queued": 5,
        "publishing": 4,
        "published": 4,
        "failed": 4,
        "canceled": 4,
    }


@pytest.mark.parametrize(
    "value",
    [
        "nope",
        "sa_",
        "sa_123",
        str(SOME_UUID),
        f"ws_{SOME_UUID}",
        f"sa_{str(SOME_UUID).upper()}",
        f"sa_{{{SOME_UUID}}}",
    ],
)
def test_malformed_account_ids_are_400_on_every_endpoint(team, value):
    before = database_state()
    for client in (bearer_client(team.owner), key_client(team.secret)):
        for response in (
            client.get(account_url(value)),
            client.delete(account_url(value)),
            client.delete(leased_url(value)),
        ):
            error = assert_error(response, 400, "VALIDATION")
            assert [item["field"] for item in error["details"]] == ["socialAccountId"]
    assert database_state() == before


def test_unknown_account_ids_are_404_on_every_endpoint(team):
    missing = f"sa_{uuid.uuid4()}"
    for client in (bearer_client(team.owner), key_client(team.secret)):
        for response in (
            client.get(account_url(missing)),
            client.delete(account_url(missing)),
            client.delete(leased_url(missing)),
        ):
            assert_error(response, 404, "NOT_FOUND", "social_account.not_found")


def test_user_reads_accounts_of_any_role_workspace_but_not_a_strangers(team):
    stranger = SocialAccountFactory(platform=Platform.X)

    assert_success(bearer_client(team.member).get(account_url(team.accounts.owner)))
    assert_error(
        bearer_client(team.member).get(account_url(team.accounts.personal)),
        404,
        "NOT_FOUND",
        "social_account.not_found",
    )
    assert_error(
        key_client(team.secret).get(account_url(team.accounts.personal)),
        404,
        "NOT_FOUND",
        "social_account.not_found",
    )
    assert_error(
        bearer_client(team.owner).get(account_url(stranger)),
        404,
        "NOT_FOUND",
        "social_account.not_found",
    )


def test_endpoints_without_credentials_are_401(team):
    client = APIClient()
    before = database_state()
    for response in (
        client.get(LIST_URL),
        client.get(account_url(team.accounts.owner)),
        client.delete(account_url(team.accounts.owner)),
        client.delete(leased_url(team.accounts.owner)),
    ):
        assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert database_state() == before


# DELETE social-accounts/{id} ---------------------------------------------------------


@pytest.fixture
def doomed(team):
    """The member's account in the team workspace with history: 2 queued targets (one on a
    post shared with the owner's account), 1 published, 1 failed, 3 snapshots, 2 inbox
    items; the member also has a personal account with 50 followers."""
    account = team.accounts.member
    SocialAccountFactory(user=team.member, platform=Platform.BLUESKY, followers=50)
    queued = PostTargetFactory.create_batch(2, social_account=account, status=TargetStatus.QUEUED)
    PostTargetFactory(
        post=queued[1].post, social_account=team.accounts.owner, status=TargetStatus.QUEUED
    )
    published = PostTargetFactory(
        social_account=account,
        status=TargetStatus.PUBLISHED,
        platform_post_id="x-1",
        published_at=timezone.now() - dt.timedelta(days=1),
    )
    ScheduledPost.objects.filter(pk=published.post_id).update(status=ScheduledPost.Status.PUBLISHED)
    failed = PostTargetFactory(social_account=account, status=TargetStatus.FAILED)
    MetricsSnapshotFactory.create_batch(3, social_account=account)
    InboxItemFactory.create_batch(2, social_account=account)
    # Someone else's history that must survive.
    MetricsSnapshotFactory.create_batch(2, social_account=team.accounts.owner)
    InboxItemFactory(social_account=team.accounts.owner)
    return types.SimpleNamespace(account=account, queued=queued, published=published, failed=failed)


def assert_report(data: dict, account, *, reason, dry_run, canceled, metrics, snapshots, inbox):
    assert set(data) == REPORT_KEYS
    stamp = parse_datetime(data["disconnectedAt"])
    assert stamp is not None and abs(timezone.now() - stamp) < dt.timedelta(minutes=1)
    assert {key: value for key, value in data.items() if key != "disconnectedAt"} == {
        "socialAccountId": account.public_id,
        "status": "disconnected",
        "disconnectedReason": reason,
        "canceledScheduledPosts": canceled,
        "purged": {"metrics": metrics, "metricsSnapshots": snapshots, "inboxItems": inbox},
        "dryRun": dry_run,
    }


@pytest.mark.parametrize(
    ("caller", "reason", "actor_type"),
    [
        ("key", "revoked_by_partner", "api_key"),
        ("owner", "revoked_by_user", "user"),
        ("admin", "revoked_by_user", "user"),
    ],
)
def test_disconnect_removes_the_account_and_reports_it(team, doomed, caller, reason, actor_type):
    account = doomed.account
    assert followers_of(team.member) == 80
    client = key_client(team.secret) if caller == "key" else bearer_client(getattr(team, caller))
    actor_id = team.key.public_id if caller == "key" else getattr(team, caller).public_id

    response = client.delete(account_url(account))

    assert_report(
        assert_success(response),
        account,
        reason=reason,
        dry_run=False,
        canceled=2,
        metrics=1,
        snapshots=3,
        inbox=2,
    )
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert not SocialMetrics.objects.filter(social_account_id=account.pk).exists()
    assert not MetricsSnapshot.objects.filter(social_account_id=account.pk).exists()
    assert not InboxItem.objects.filter(social_account_id=account.pk).exists()
    assert MetricsSnapshot.objects.filter(social_account=team.accounts.owner).count() == 2
    assert InboxItem.objects.filter(social_account=team.accounts.owner).count() == 1
    for target in doomed.queued:
        target.refresh_from_db()
        assert (target.status, target.canceled_reason, target.social_account_id) == (
            TargetStatus.CANCELED,
            "account_disconnected",
            None,
        )
    # The post shared with the owner's account still has a queued target: it stays queued;
    # the post whose only target was canceled is canceled.
    assert doomed.queued[1].post.targets.get(social_account=team.accounts.owner).status == (
        TargetStatus.QUEUED
    )
    assert ScheduledPost.objects.get(pk=doomed.queued[1].post_id).status == "queued"
    assert ScheduledPost.objects.get(pk=doomed.queued[0].post_id).status == "canceled"
    published = PostTarget.objects.get(pk=doomed.published.pk)
    assert published.social_account_id is None
    assert published.status == TargetStatus.PUBLISHED
    assert (published.account_platform, published.account_handle) == (
        "x",
        account.platform_username,
    )
    assert published.platform_post_id == "x-1"
    assert PostTarget.objects.get(pk=doomed.failed.pk).status == TargetStatus.FAILED
    assert followers_of(team.member) == 50
    assert followers_of(team.owner) == 1007
    event = AuditEvent.objects.get(action="social_account.disconnected")
    assert (event.actor_type, event.actor_id) == (actor_type, actor_id)
    assert event.workspace_id == team.workspace.public_id
    assert account.public_id in event.subject_ids
    assert event.data["reason"] == reason
    assert TokenRevocation.objects.filter(account_public_id=account.public_id).exists()
    assert_no_tokens(response, account)


def test_disconnect_twice_is_404_the_second_time(team):
    client = key_client(team.secret)
    assert_success(client.delete(account_url(team.accounts.owner)))

    for response in (
        client.delete(account_url(team.accounts.owner)),
        client.get(account_url(team.accounts.owner)),
        bearer_client(team.owner).delete(account_url(team.accounts.owner)),
    ):
        assert_error(response, 404, "NOT_FOUND", "social_account.not_found")
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1


def test_disconnected_account_leaves_the_list(team):
    client = key_client(team.secret)
    assert_success(client.delete(account_url(team.accounts.admin)))

    groups = grouped(client.get(LIST_URL))

    assert [row["id"] for row in groups["instagram"]] == [team.accounts.owner.public_id]


@pytest.mark.parametrize("flag", ["true", "1", "TRUE", "True"])
@pytest.mark.parametrize("caller", ["key", "owner", "admin"])
def test_dry_run_reports_the_same_counts_and_changes_nothing(team, doomed, caller, flag):
    LeaseFactory(social_account=doomed.account)
    client = key_client(team.secret) if caller == "key" else bearer_client(getattr(team, caller))
    reason = "revoked_by_partner" if caller == "key" else "revoked_by_user"
    client.get(LIST_URL)  # the key's first use writes last_used_at; not part of the check
    before = database_state()

    response = client.delete(f"{account_url(doomed.account)}?dryRun={flag}")

    assert_report(
        assert_success(response),
        doomed.account,
        reason=reason,
        dry_run=True,
        canceled=2,
        metrics=1,
        snapshots=3,
        inbox=2,
    )
    assert database_state() == before
    assert followers_of(team.member) == 80
    # ... and the real disconnect then does what the dry run said.
    real = assert_success(client.delete(account_url(doomed.account)))
    assert real["purged"] == assert_success(response)["purged"]
    assert real["canceledScheduledPosts"] == 2
    assert real["dryRun"] is False


@pytest.mark.parametrize("flag", ["maybe", "", "yes", "2", "truee"])
def test_dry_run_with_a_bad_flag_is_400_and_changes_nothing(team, doomed, flag):
    before = database_state()
    for client in (key_client(team.secret), bearer_client(team.owner)):
        for url in (account_url(doomed.account), leased_url(doomed.account)):
            error = assert_error(client.delete(f"{url}?dryRun={flag}"), 400, "VALIDATION")
            assert [item["field"] for item in error["details"]] == ["dryRun"]
    # 400s are answered before anything is written (the key's last_used_at aside).
    assert database_state() == before


def test_dry_run_false_disconnects(team):
    response = key_client(team.secret).delete(f"{account_url(team.accounts.owner)}?dryRun=false")

    assert assert_success(response)["dryRun"] is False
    assert not SocialAccount.objects.filter(pk=team.accounts.owner.pk).exists()


def test_member_may_not_disconnect_or_dry_run(team, doomed):
    client = bearer_client(team.member)
    LeaseFactory(social_account=team.accounts.owner)
    before = database_state()

    for url in (
        account_url(doomed.account),  # their own account, in a workspace where they are member
        f"{account_url(team.accounts.owner)}?dryRun=true",
        leased_url(team.accounts.owner),
        f"{leased_url(team.accounts.owner)}?dryRun=true",
    ):
        error = assert_error(client.delete(url), 403, "FORBIDDEN_ROLE")
        assert error["i18nVars"] == {"role": "member"}
    assert database_state() == before


def test_member_of_one_workspace_owner_of_another_uses_the_accounts_workspace_role(team):
    # The member owns their personal workspace; their role there must not leak into the team.
    own = SocialAccountFactory(user=team.member, platform=Platform.THREADS)
    client = bearer_client(team.member)

    assert_error(client.delete(account_url(team.accounts.admin)), 403, "FORBIDDEN_ROLE")
    assert_success(client.delete(account_url(own)))
    assert SocialAccount.objects.filter(pk=team.accounts.admin.pk).exists()


def test_disconnect_statement_count_does_not_grow_with_history(team, django_assert_num_queries):
    small = account_with_history(
        team.admin, Platform.THREADS, queued=2, published=2, snapshots=2, inbox=2
    )
    large = account_with_history(
        team.admin, Platform.BLUESKY, queued=40, published=40, snapshots=40, inbox=40
    )
    SocialAccount.objects.filter(pk__in=[small.pk, large.pk]).update(workspace=team.workspace)
    partner, user_client = key_client(team.secret), bearer_client(team.owner)
    assert_success(partner.get(LIST_URL))  # the key's first use writes last_used_at

    with CaptureQueriesContext(connection) as small_run:
        data = assert_success(partner.delete(account_url(small)))
    assert (data["canceledScheduledPosts"], data["purged"]["metricsSnapshots"]) == (2, 2)

    with django_assert_num_queries(len(small_run.captured_queries)):
        data = assert_success(partner.delete(account_url(large)))
    assert (data["canceledScheduledPosts"], data["purged"]["metricsSnapshots"]) == (40, 40)
    assert data["purged"]["inboxItems"] == 40

    # The same holds for a user, and for dry runs.
    again_small = account_with_history(
        team.owner, Platform.THREADS, queued=2, published=2, snapshots=2, inbox=2
    )
    again_large = account_with_history(
        team.owner, Platform.BLUESKY, queued=40, published=40, snapshots=40, inbox=40
    )
    with CaptureQueriesContext(connection) as small_dry:
        assert_success(user_client.delete(f"{account_url(again_small)}?dryRun=true"))
    with django_assert_num_queries(len(small_dry.captured_queries)):
        assert_success(user_client.delete(f"{account_url(again_large)}?dryRun=true"))
    with CaptureQueriesContext(connection) as small_user:
        assert_success(user_client.delete(account_url(again_small)))
    with django_assert_num_queries(len(small_user.captured_queries)):
        assert_success(user_client.delete(account_url(again_large)))


# DELETE leased-accounts/{id} ---------------------------------------------------------


def test_plain_disconnect_of_a_leased_account_leaves_the_lease_open(team):
    account = team.accounts.owner
    lease = LeaseFactory(social_account=account)

    data = assert_success(key_client(team.secret).delete(account_url(account)))

    assert "releasedLeases" not in data
    assert data["disconnectedReason"] == "revoked_by_partner"
    lease.refresh_from_db()
    assert lease.released_at is None
    assert lease.social_account_id is None
    assert lease.account_public_id == account.public_id


@pytest.mark.parametrize(("caller", "actor_type"), [("key", "api_key"), ("admin", "user")])
def test_lease_release_ends_the_lease_and_disconnects(team, doomed, caller, actor_type):
    account = doomed.account
    lease = LeaseFactory(social_account=account)
    old = LeaseFactory(social_account=account, released_at=timezone.now() - dt.timedelta(days=9))
    other = LeaseFactory(social_account=team.accounts.owner)
    client = key_client(team.secret) if caller == "key" else bearer_client(team.admin)

    response = client.delete(leased_url(account))

    data = assert_success(response)
    assert data.pop("releasedLeases") == 1
    assert_report(
        data,
        account,
        reason="lease_released",
        dry_run=False,
        canceled=2,
        metrics=1,
        snapshots=3,
        inbox=2,
    )
    lease.refresh_from_db()
    assert lease.released_at is not None
    assert abs(timezone.now() - lease.released_at) < dt.timedelta(minutes=1)
    assert lease.account_public_id == account.public_id
    assert lease.social_account_id is None
    old_released_at = old.released_at
    old.refresh_from_db()
    assert old.released_at == old_released_at
    other.refresh_from_db()
    assert other.released_at is None and other.social_account_id == team.accounts.owner.pk
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert followers_of(team.member) == 50
    event = AuditEvent.objects.get(action="social_account.disconnected")
    assert event.actor_type == actor_type
    assert event.data["reason"] == "lease_released"
    assert_no_tokens(response, account)
    # Released and gone: a second release (or disconnect) is a 404.
    assert_error(client.delete(leased_url(account)), 404, "NOT_FOUND")
    assert_error(client.delete(account_url(account)), 404, "NOT_FOUND")


def test_lease_release_counts_every_open_lease(team):
    account = team.accounts.admin
    leases = LeaseFactory.create_batch(2, social_account=account)

    data = assert_success(key_client(team.secret).delete(leased_url(account)))

    assert data["releasedLeases"] == 2
    assert (
        Lease.objects.filter(pk__in=[lease.pk for lease in leases], released_at=None).count() == 0
    )


@pytest.mark.parametrize("released_before", [False, True])
def test_lease_release_of_an_account_without_an_open_lease_is_404(team, released_before):
    account = team.accounts.owner
    if released_before:
        LeaseFactory(social_account=account, released_at=timezone.now() - dt.timedelta(days=1))
    PostTargetFactory(social_account=account, status=TargetStatus.QUEUED)
    before = database_state()

    for client in (key_client(team.secret), bearer_client(team.owner)):
        for url in (leased_url(account), f"{leased_url(account)}?dryRun=true"):
            assert_error(client.delete(url), 404, "NOT_FOUND", "leased_account.not_found")

    assert database_state() == before


def test_lease_release_dry_run_reports_and_changes_nothing(team, doomed):
    LeaseFactory.create_batch(2, social_account=doomed.account)
    client = key_client(team.secret)
    client.get(LIST_URL)  # the key's first use writes last_used_at
    before = database_state()

    data = assert_success(client.delete(f"{leased_url(doomed.account)}?dryRun=true"))

    assert data.pop("releasedLeases") == 2
    assert_report(
        data,
        doomed.account,
        reason="lease_released",
        dry_run=True,
        canceled=2,
        metrics=1,
        snapshots=3,
        inbox=2,
    )
    assert database_state() == before


# The per-key limit on partner writes ---------------------------------------------------


@pytest.fixture
def two_per_minute(settings, steady_clock):
    settings.RATELIMITS = {**settings.RATELIMITS, "partner.social.write": "2/m"}


def test_partner_writes_are_limited_per_key(team, two_per_minute):
    _other, other_secret = api_key_for(team.workspace, scopes=[READ, WRITE], name="second")
    client = key_client(team.secret)
    dry = f"{account_url(team.accounts.owner)}?dryRun=true"
    assert_success(client.delete(dry))
    # A write that fails (404) spends budget too.
    assert_error(client.delete(leased_url(f"sa_{uuid.uuid4()}")), 404, "NOT_FOUND")

    response = client.delete(account_url(team.accounts.admin))

    error = assert_error(response, 429, "RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert error["i18nVars"]["retryAfter"] == int(response["Retry-After"])
    assert SocialAccount.objects.filter(pk=team.accounts.admin.pk).exists()
    assert_error(client.delete(leased_url(team.accounts.admin)), 429, "RATE_LIMITED")
    # Another key of the same workspace has a budget of its own ...
    other = key_client(other_secret)
    assert_success(other.delete(dry))
    assert_success(other.delete(account_url(team.accounts.admin)))
    assert_error(other.delete(dry), 429, "RATE_LIMITED")
    # ... and reads are never limited.
    for _ in range(5):
        grouped(client.get(LIST_URL))
        assert_success(client.get(account_url(team.accounts.owner)))


def test_reads_do_not_spend_the_write_budget(team, two_per_minute):
    client = key_client(team.secret)
    for _ in range(6):
        grouped(client.get(LIST_URL))
        assert_success(client.get(account_url(team.accounts.owner)))

    assert_success(client.delete(f"{account_url(team.accounts.owner)}?dryRun=true"))
    assert_success(client.delete(account_url(team.accounts.owner)))
    assert_error(client.delete(account_url(team.accounts.admin)), 429, "RATE_LIMITED")


# Retries and races ---------------------------------------------------------------------


def test_a_retried_disconnect_with_the_same_idempotency_key_replays_the_report(team, doomed):
    client = key_client(team.secret)
    url = account_url(doomed.account)

    first = client.delete(url, HTTP_IDEMPOTENCY_KEY="retry-1")
    again = client.delete(url, HTTP_IDEMPOTENCY_KEY="retry-1")

    assert assert_success(again) == assert_success(first)
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1
    # Without the header the account is simply gone.
    assert_error(client.delete(url), 404, "NOT_FOUND", "social_account.not_found")


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_account_disconnected_while_the_request_runs_is_the_same_404(team, monkeypatch, dry_run):
    """Another request disconnects the account between this one's lookup and its lock (what
    two partners pressing the button at once do). The loser must get this endpoint's 404,
    the one a plain second DELETE gets."""
    found = selectors.social_account_to_change_for_caller

    def found_then_disconnected_elsewhere(**kwargs):
        account = found(**kwargs)
        social_account_disconnect(
            account=account, actor=Actor.system("race"), reason="revoked_by_staff"
        )
        return account

    monkeypatch.setattr(
        selectors, "social_account_to_change_for_caller", found_then_disconnected_elsewhere
    )
    suffix = "?dryRun=true" if dry_run else ""

    response = key_client(team.secret).delete(account_url(team.accounts.owner) + suffix)

    error = assert_error(response, 404, "NOT_FOUND")
    # The creator endpoint's key (creator.social.not_found) is not this endpoint's.
    assert error["i18nKey"] == "social_account.not_found"
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1


@pytest.mark.parametrize(
    "query", ["?dryRun=true&dryRun=false", "?dryRun=false&dryRun=true", "?dryRun=1&dryRun=1"]
)
def test_a_repeated_dry_run_flag_is_400_and_changes_nothing(team, doomed, query):
    client = key_client(team.secret)
    client.get(LIST_URL)  # the key's first use writes last_used_at
    before = database_state()

    for url in (account_url(doomed.account), leased_url(doomed.account)):
        error = assert_error(client.delete(url + query), 400, "VALIDATION")
        assert [item["field"] for item in error["details"]] == ["dryRun"]

    assert database_state() == before


def test_a_repeated_workspace_filter_is_400(team):
    workspace = team.workspace.public_id
    response = key_client(team.secret).get(
        f"{LIST_URL}?workspace={workspace}&workspace={workspace}"
    )

    error = assert_error(response, 400, "VALIDATION")
    assert [item["field"] for item in error["details"]] == ["workspace"]


# Fifty callers at once, and a broker that is down --------------------------------------------

PARALLEL_CALLERS = 50


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("caller", ["api_key", "owner"])
def test_fifty_parallel_disconnects_of_one_account_succeed_exactly_once(
    team, doomed, idle_broker, caller
):
    # given: fifty clients of one caller, each on its own thread and database connection
    def client():
        return key_client(team.secret) if caller == "api_key" else bearer_client(team.owner)

    account = doomed.account
    url = account_url(account)

    # when: all released together
    responses = run_concurrently(*[lambda: client().delete(url)] * PARALLEL_CALLERS)

    # then: one report, and the same 404 for everyone else
    successes = [response for response in responses if response.status_code == 200]
    assert len(successes) == 1
    for response in responses:
        if response.status_code != 200:
            assert_error(response, 404, "NOT_FOUND", "social_account.not_found")
    assert_report(
        assert_success(successes[0]),
        account,
        reason="revoked_by_partner" if caller == "api_key" else "revoked_by_user",
        dry_run=False,
        canceled=2,
        metrics=1,
        snapshots=3,
        inbox=2,
    )
    # and the disconnect happened once: one audit row, one revocation, totals right
    [event] = AuditEvent.objects.filter(action="social_account.disconnected")
    assert event.subject_ids[0] == account.public_id
    assert event.data["canceledScheduledPosts"] == 2
    assert list(TokenRevocation.objects.values_list("account_public_id", flat=True)) == [
        account.public_id
    ]
    assert idle_broker.queued() == 1  # one revoke task
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert followers_of(team.member) == 50
    assert followers_of(team.owner) == 1000 + 7
    canceled = PostTarget.objects.filter(pk__in=[target.pk for target in doomed.queued])
    assert set(canceled.values_list("status", "canceled_reason", "social_account")) == {
        (TargetStatus.CANCELED, "account_disconnected", None)
    }
    # the post shared with the owner's account still goes out there; the other has nothing left
    assert ScheduledPost.objects.get(pk=doomed.queued[0].post_id).status == "canceled"
    assert ScheduledPost.objects.get(pk=doomed.queued[1].post_id).status == "queued"
    published = PostTarget.objects.get(pk=doomed.published.pk)
    assert (published.status, published.platform_post_id) == (TargetStatus.PUBLISHED, "x-1")


@pytest.mark.django_db(transaction=True)
def test_a_disconnect_committed_while_the_broker_is_down_is_answered_and_loses_nothing(caplog):
    # given: an account holding real sandbox tokens, and an endpoint subscribed to disconnects
    user = UserFactory()
    account = sandbox_connected_account(user, Platform.INSTAGRAM, handle="no_broker")
    caplog.set_level(logging.INFO)
    with Receiver() as receiver:
        endpoint_for(account.workspace, receiver.url, ["account.disconnected"])

        # when: the disconnect commits while Redis, the broker, refuses connections
        with broker_unreachable():
            response = bearer_client(user).delete(account_url(account))

        # then: the caller is told what happened, a disconnect, not a 500 to retry
        report = assert_success(response)
        assert (report["socialAccountId"], report["status"]) == (account.public_id, "disconnected")
        assert not SocialAccount.objects.filter(pk=account.pk).exists()
        assert f"[social] Disconnected instagram for user {user.public_id}" in caplog.text
        # and what leaves the database waits in its rows instead of being lost
        [revocation] = TokenRevocation.objects.all()
        assert revocation.account_public_id == account.public_id
        [delivery] = WebhookDelivery.objects.all()
        assert delivery.status == WebhookDelivery.Status.PENDING
        assert caplog.text.count("Broker unavailable") == 2
        assert live_credentials("no_broker") == 2
        assert receiver.received == []

        # when: the broker is back, the periodic sweeps find both (tasks run eagerly here)
        assert token_revocations_sweep_task() == 1
        assert webhook_deliveries_sweep_task() == 1

        # then: revoked upstream and announced, once each
        assert live_credentials("no_broker") == 0
        assert not TokenRevocation.objects.exists()
        assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED
        [received] = receiver.received
        assert json.loads(received.body)["data"]["socialAccountId"] == account.public_id
