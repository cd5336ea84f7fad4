"""``Idempotency-Key`` on the mutating endpoints: replay, conflicts, per-caller keys,
errors not stored, expiry and purge, key validation, in-flight requests, real concurrency
(with and without the shared cache), encryption at rest, atomicity with the work, and a
guard that every mutating endpoint honours the key."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import resolve
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import urls as account_urls
from accounts.models import (
    ApiKey,
    AuditEvent,
    IdempotencyRecord,
    Membership,
    Platform,
    SocialAccount,
    TokenRevocation,
    Workspace,
)
from accounts.providers.sandbox import SandboxProvider
from accounts.services import api_keys as api_keys_service
from accounts.services import disconnect as disconnect_service
from accounts.tasks import idempotency_records_purge_task
from accounts.views import workspaces as workspace_views
from scheduling.models import PostTarget, ScheduledPost
from socialhub.api.idempotency import _InFlightLock, idempotency_records_purge
from socialhub.api.ids import format_public_id
from tests.factories import (
    DEFAULT_PASSWORD,
    LeaseFactory,
    SocialAccountFactory,
    UserFactory,
    api_key_for,
    personal_workspace,
    shared_workspace,
)
from tests.helpers import (
    CONNECT_URL,
    assert_error,
    assert_success,
    authorize,
    bearer_client,
    connect,
    key_client,
    live_credentials,
    run_concurrently,
)

WORKSPACES_URL = "/api/v1/workspaces"
DISCONNECT_URL = "/api/v1/creators/social/disconnect"
LOGIN_URL = "/api/v1/auth/login"
REPLAYED = "Idempotent-Replayed"
MUTATING = ("post", "put", "patch", "delete")


# Helpers -----------------------------------------------------------------------------------


def with_key(key: str) -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": key}


def create_workspace(client, name: str = "Agency", *, key: str):
    return client.post(WORKSPACES_URL, {"name": name}, format="json", **with_key(key))


def disconnect(client, platform: str = "instagram", *, key: str):
    return client.post(DISCONNECT_URL, {"platform": platform}, format="json", **with_key(key))


def account_url(account_or_id) -> str:
    public_id = getattr(account_or_id, "public_id", account_or_id)
    return f"/api/v1/social-accounts/{public_id}"


def delete_account(client, account_or_id, *, key: str, query: str = ""):
    return client.delete(account_url(account_or_id) + query, **with_key(key))


def api_keys_url(workspace) -> str:
    return f"/api/v1/workspaces/{workspace.public_id}/api-keys"


def create_api_key(client, workspace, *, key: str, name: str = "ci"):
    body = {"name": name, "scopes": ["social:read", "social:write"]}
    return client.post(api_keys_url(workspace), body, format="json", **with_key(key))


def assert_replayed(response) -> None:
    assert response.headers.get(REPLAYED) == "true", dict(response.headers)


def assert_not_replayed(response) -> None:
    assert REPLAYED not in response.headers, dict(response.headers)


def shared_workspaces_of(user) -> list[Workspace]:
    return list(
        Workspace.objects.filter(memberships__user=user, is_personal=False).order_by("name")
    )


def partner_client(user, scopes=("social:write",)) -> APIClient:
    """An API key of ``user``'s personal workspace."""
    _api_key, secret = api_key_for(personal_workspace(user), scopes=scopes)
    return key_client(secret)


def in_background(call):
    """Start ``call`` in a thread (own database connection); returns (thread, results)."""
    results: list = []

    def worker():
        try:
            results.append(call())
        except BaseException as exc:  # surfaced by the test's assertions
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    return thread, results


# Replay ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_repeated_workspace_create_replays_the_first_answer_and_creates_one(user, user_client):
    first = create_workspace(user_client, key="ws-create-1")
    created = assert_success(first, 201)
    assert_not_replayed(first)

    # a retry, even with a fresh access token of the same user
    second = create_workspace(bearer_client(user), key="ws-create-1")

    assert assert_success(second, 201) == created
    assert_replayed(second)
    assert second.json() == first.json()
    assert [ws.public_id for ws in shared_workspaces_of(user)] == [created["id"]]
    assert AuditEvent.objects.filter(action="workspace.created").count() == 1
    assert IdempotencyRecord.objects.get(key="ws-create-1").response_status == 201


@pytest.mark.django_db
def test_without_a_key_every_request_does_the_work(user_client, user):
    """The control for the replay tests: no key, no replay."""
    for _ in range(2):
        response = user_client.post(WORKSPACES_URL, {"name": "Agency"}, format="json")
        assert_success(response, 201)
        assert_not_replayed(response)

    assert len(shared_workspaces_of(user)) == 2
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_repeated_partner_delete_replays_the_report_instead_of_404(user):
    account = SocialAccountFactory(user=user, followers=10)
    client = partner_client(user)

    first = delete_account(client, account, key="offboard-42")
    report = assert_success(first)
    assert_not_replayed(first)
    assert report["socialAccountId"] == account.public_id
    assert report["dryRun"] is False

    second = delete_account(client, account, key="offboard-42")

    assert assert_success(second) == report
    assert_replayed(second)
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1
    # without the key the account is simply gone
    assert_error(client.delete(account_url(account)), 404, "NOT_FOUND")


@pytest.mark.django_db
def test_repeated_creator_disconnect_replays_200(user, user_client, account):
    first = disconnect(user_client, key="dc-1")
    assert assert_success(first) is None
    assert_not_replayed(first)

    second = disconnect(user_client, key="dc-1")

    assert assert_success(second) is None
    assert_replayed(second)
    assert second.json() == {"success": True}
    assert not SocialAccount.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1
    assert_error(
        user_client.post(DISCONNECT_URL, {"platform": "instagram"}, format="json"),
        404,
        "NOT_FOUND",
    )


@pytest.mark.django_db
def test_repeated_api_key_create_returns_the_same_secret_and_creates_one_key(user, user_client):
    workspace = shared_workspace(user)

    first = create_api_key(user_client, workspace, key="key-create-1")
    created = assert_success(first, 201)
    assert_not_replayed(first)
    assert created["key"].startswith("shk_")

    second = create_api_key(user_client, workspace, key="key-create-1")

    assert assert_success(second, 201) == created
    assert_replayed(second)
    assert list(ApiKey.objects.filter(workspace=workspace).values_list("name", flat=True)) == ["ci"]
    # the replayed secret is the live key's secret
    listed = assert_success(key_client(created["key"]).get("/api/v1/social-accounts"))
    assert "socialAccounts" in listed


@pytest.mark.django_db
def test_repeated_lease_release_replays_the_report(user):
    account = SocialAccountFactory(user=user)
    LeaseFactory(social_account=account)
    client = partner_client(user)
    url = f"/api/v1/leased-accounts/{account.public_id}"

    first = client.delete(url, **with_key("release-1"))
    report = assert_success(first)
    assert report["releasedLeases"] == 1

    second = client.delete(url, **with_key("release-1"))

    assert assert_success(second) == report
    assert_replayed(second)
    assert not SocialAccount.objects.filter(pk=account.pk).exists()


# Same key, other request -------------------------------------------------------------------


@pytest.mark.django_db
def test_body_key_order_does_not_matter(user, user_client):
    workspace = shared_workspace(user)
    url = api_keys_url(workspace)
    first = user_client.post(
        url,
        '{"name": "ci", "scopes": ["social:read"]}',
        content_type="application/json",
        **with_key("order-1"),
    )
    created = assert_success(first, 201)

    second = user_client.post(
        url,
        '{"scopes": ["social:read"], "name": "ci"}',
        content_type="application/json",
        **with_key("order-1"),
    )

    assert assert_success(second, 201) == created
    assert_replayed(second)
    assert ApiKey.objects.filter(workspace=workspace).count() == 1


@pytest.mark.django_db
def test_a_different_body_under_the_same_key_is_a_conflict(user, user_client):
    created = assert_success(create_workspace(user_client, "Agency", key="body-1"), 201)

    response = create_workspace(user_client, "Other agency", key="body-1")

    assert_error(response, 409, "IDEMPOTENCY_CONFLICT", "common.idempotency_conflict")
    assert_not_replayed(response)
    assert [ws.public_id for ws in shared_workspaces_of(user)] == [created["id"]]


@pytest.mark.django_db
def test_a_different_path_under_the_same_key_is_a_conflict(user):
    first_account = SocialAccountFactory(user=user)
    other_account = SocialAccountFactory(user=user, platform=Platform.X)
    client = partner_client(user)
    assert_success(delete_account(client, first_account, key="path-1"))

    response = delete_account(client, other_account, key="path-1")

    assert_error(response, 409, "IDEMPOTENCY_CONFLICT")
    assert SocialAccount.objects.filter(pk=other_account.pk).exists()
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1


@pytest.mark.django_db
def test_a_different_query_under_the_same_key_is_a_conflict(user):
    """A dry run first, then the real disconnect under its key: refused, nothing done."""
    account = SocialAccountFactory(user=user)
    client = partner_client(user)
    preview = assert_success(delete_account(client, account, key="query-1", query="?dryRun=true"))
    assert preview["dryRun"] is True

    response = delete_account(client, account, key="query-1")

    assert_error(response, 409, "IDEMPOTENCY_CONFLICT")
    assert SocialAccount.objects.filter(pk=account.pk).exists()
    assert not AuditEvent.objects.filter(action="social_account.disconnected").exists()


# Keys are per caller ------------------------------------------------------------------------


@pytest.mark.django_db
def test_two_users_with_one_key_string_each_get_their_own_work(user, user_client):
    other = UserFactory()
    mine = assert_success(create_workspace(user_client, "Agency", key="shared-key"), 201)

    response = create_workspace(bearer_client(other), "Agency", key="shared-key")

    theirs = assert_success(response, 201)
    assert_not_replayed(response)
    assert theirs["id"] != mine["id"]
    assert [ws.public_id for ws in shared_workspaces_of(user)] == [mine["id"]]
    assert [ws.public_id for ws in shared_workspaces_of(other)] == [theirs["id"]]
    assert IdempotencyRecord.objects.filter(key="shared-key").count() == 2


@pytest.mark.django_db
def test_a_user_and_an_api_key_with_one_key_string_do_not_share_answers(user, user_client):
    first = SocialAccountFactory(user=user)
    second = SocialAccountFactory(user=user, platform=Platform.X)
    partner = partner_client(user)
    assert_success(delete_account(user_client, first, key="k-1"))

    # the very request the user made: the key runs it itself (gone now), no replay
    same = delete_account(partner, first, key="k-1")
    assert_error(same, 404, "NOT_FOUND")
    assert_not_replayed(same)

    # and its own request under the same string is neither replayed nor a conflict
    other = delete_account(partner, second, key="k-1")
    assert assert_success(other)["socialAccountId"] == second.public_id
    assert_not_replayed(other)
    assert not SocialAccount.objects.filter(user=user).exists()


# Errors are not stored ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_400_is_not_stored_and_the_corrected_request_runs(user, user_client):
    bad = user_client.post(WORKSPACES_URL, {"name": ""}, format="json", **with_key("fix-1"))
    assert_error(bad, 400, "VALIDATION")
    assert not IdempotencyRecord.objects.exists()

    fixed = create_workspace(user_client, "Agency", key="fix-1")

    created = assert_success(fixed, 201)
    assert_not_replayed(fixed)
    assert [ws.public_id for ws in shared_workspaces_of(user)] == [created["id"]]


@pytest.mark.django_db
def test_a_404_is_not_stored_and_the_corrected_request_runs(user):
    account = SocialAccountFactory(user=user)
    client = partner_client(user)
    unknown = format_public_id(SocialAccount.ID_PREFIX, uuid.uuid4())
    assert_error(delete_account(client, unknown, key="fix-2"), 404, "NOT_FOUND")

    fixed = delete_account(client, account, key="fix-2")

    assert assert_success(fixed)["socialAccountId"] == account.public_id
    assert_not_replayed(fixed)


@pytest.mark.django_db
def test_the_same_request_after_a_404_runs_once_the_state_allows_it(user, user_client):
    """A 404 answer is not replayed: once the account exists the same request works."""
    assert_error(disconnect(user_client, key="later"), 404, "NOT_FOUND")
    SocialAccountFactory(user=user)

    response = disconnect(user_client, key="later")

    assert_success(response)
    assert_not_replayed(response)
    assert not SocialAccount.objects.filter(user=user).exists()


# Expiry and purge --------------------------------------------------------------------------


@pytest.mark.django_db
def test_after_expiry_the_same_key_runs_the_work_again(user, user_client):
    first = assert_success(create_workspace(user_client, key="day-old"), 201)
    IdempotencyRecord.objects.filter(key="day-old").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    again = create_workspace(user_client, key="day-old")

    second = assert_success(again, 201)
    assert_not_replayed(again)
    assert second["id"] != first["id"]
    assert len(shared_workspaces_of(user)) == 2
    record = IdempotencyRecord.objects.get(key="day-old")  # replaced, not duplicated
    assert record.expires_at > timezone.now() + timedelta(hours=23)
    # and the new answer is the one replayed from now on
    replay = create_workspace(user_client, key="day-old")
    assert_replayed(replay)
    assert assert_success(replay, 201)["id"] == second["id"]


@pytest.mark.django_db
def test_a_record_is_kept_for_24_hours(user, user_client):
    before = timezone.now()
    assert_success(create_workspace(user_client, key="ttl"), 201)

    record = IdempotencyRecord.objects.get(key="ttl")

    assert record.caller == user.public_id
    assert before + timedelta(hours=24) <= record.expires_at <= timezone.now() + timedelta(hours=24)


def _record(key: str, expires_in: timedelta) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        caller="usr_test",
        key=key,
        fingerprint="0" * 64,
        response_status=200,
        response_body="null",
        expires_at=timezone.now() + expires_in,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "purge",
    [
        pytest.param(idempotency_records_purge, id="service"),
        pytest.param(lambda: idempotency_records_purge_task.delay().get(), id="task"),
    ],
)
def test_purge_deletes_expired_records_and_keeps_live_ones(purge):
    for index in range(3):
        _record(f"old-{index}", -timedelta(minutes=index + 1))
    _record("live", timedelta(hours=1))

    assert purge() == 3

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["live"]
    assert purge() == 0


@pytest.mark.django_db
def test_purge_works_a_batch_at_a_time():
    for index in range(3):
        _record(f"old-{index}", -timedelta(minutes=1))

    assert idempotency_records_purge(batch=2) == 2
    assert idempotency_records_purge(batch=2) == 1
    assert not IdempotencyRecord.objects.exists()


# Invalid keys ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 256, id="256-chars"),
        pytest.param("clé-1", id="non-ascii"),
        pytest.param("abc\x01def", id="control"),
        pytest.param("abc\x7f", id="del"),
        pytest.param("two words", id="space"),
        pytest.param("tab\there", id="tab"),
    ],
)
def test_an_invalid_key_is_400_naming_the_header_and_nothing_is_done(user, user_client, key):
    response = create_workspace(user_client, key=key)

    error = assert_error(response, 400, "VALIDATION", "common.idempotency_key_invalid")
    assert [detail["field"] for detail in error["details"]] == ["Idempotency-Key"]
    assert shared_workspaces_of(user) == []
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_a_255_character_key_of_visible_ascii_works(user, user_client):
    key = ("!~Az09-_." * 29)[:255]
    assert len(key) == 255

    first = create_workspace(user_client, key=key)
    second = create_workspace(user_client, key=key)

    assert assert_success(second, 201) == assert_success(first, 201)
    assert_replayed(second)
    assert len(shared_workspaces_of(user)) == 1


# In flight ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_whose_key_is_locked_in_flight_is_a_conflict(user, user_client):
    lock = _InFlightLock(user.public_id, "busy")
    assert cache.add(lock.name, "1", 60)

    response = create_workspace(user_client, key="busy")

    assert_error(response, 409, "IDEMPOTENCY_CONFLICT")
    assert shared_workspaces_of(user) == []
    assert not IdempotencyRecord.objects.exists()
    assert cache.get(lock.name) == "1"  # another request's lock is left alone
    # the lock is the caller's: someone else's request under the same string runs
    other = UserFactory()
    assert_success(create_workspace(bearer_client(other), key="busy"), 201)
    assert len(shared_workspaces_of(other)) == 1

    cache.delete(lock.name)
    assert_success(create_workspace(user_client, key="busy"), 201)
    assert cache.get(lock.name) is None  # released at the end of the request


@pytest.mark.django_db(transaction=True)
def test_a_repeat_while_the_first_request_runs_is_a_conflict(monkeypatch):
    user = UserFactory()
    entered, release = threading.Event(), threading.Event()
    real_workspace_create = workspace_views.workspace_create
    calls: list[str] = []

    def paused_workspace_create(**kwargs):
        membership = real_workspace_create(**kwargs)
        calls.append(kwargs["name"])
        if len(calls) == 1:
            entered.set()
            release.wait(10)
        return membership

    monkeypatch.setattr(workspace_views, "workspace_create", paused_workspace_create)
    thread, results = in_background(lambda: create_workspace(bearer_client(user), key="slow"))
    try:
        assert entered.wait(10)

        same = create_workspace(bearer_client(user), key="slow")
        different = create_workspace(bearer_client(user), "Other", key="slow")
    finally:
        release.set()
        thread.join(30)

    assert_error(same, 409, "IDEMPOTENCY_CONFLICT")
    assert_error(different, 409, "IDEMPOTENCY_CONFLICT")
    [first] = results
    created = assert_success(first, 201)
    assert calls == ["Agency"]
    replay = create_workspace(bearer_client(user), key="slow")
    assert_replayed(replay)
    assert assert_success(replay, 201) == created
    assert [ws.public_id for ws in shared_workspaces_of(user)] == [created["id"]]


# Concurrency -------------------------------------------------------------------------------


def _slow_workspace_create(monkeypatch, seconds: float = 0.5) -> list[str]:
    """Keep the first request in flight a while after its writes, so the others arrive
    while it runs; returns the names the service really created."""
    real_workspace_create = workspace_views.workspace_create
    created: list[str] = []

    def slow(**kwargs):
        membership = real_workspace_create(**kwargs)
        created.append(kwargs["name"])
        time.sleep(seconds)
        return membership

    monkeypatch.setattr(workspace_views, "workspace_create", slow)
    return created


def _outcomes(responses) -> tuple[list, list, list]:
    """(original successes, replayed successes, idempotency conflicts); nothing else."""
    originals, replays, conflicts = [], [], []
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "IDEMPOTENCY_CONFLICT")
            conflicts.append(response)
        elif response.headers.get(REPLAYED) == "true":
            replays.append(response)
        else:
            assert 200 <= response.status_code < 300, response.content
            assert_not_replayed(response)
            originals.append(response)
    return originals, replays, conflicts


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_workspace_creates_run_once(monkeypatch):
    user = UserFactory()
    created = _slow_workspace_create(monkeypatch)
    clients = [bearer_client(user) for _ in range(4)]

    responses = run_concurrently(
        *(lambda client=client: create_workspace(client, key="race") for client in clients)
    )

    originals, replays, conflicts = _outcomes(responses)
    assert len(originals) == 1
    assert len(originals) + len(replays) + len(conflicts) == 4
    body = assert_success(originals[0], 201)
    for replay in replays:
        assert assert_success(replay, 201) == body
    assert created == ["Agency"]
    assert [ws.public_id for ws in shared_workspaces_of(user)] == [body["id"]]
    assert AuditEvent.objects.filter(action="workspace.created").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_disconnects_run_once():
    user = UserFactory()
    SocialAccountFactory(user=user, followers=100)
    clients = [bearer_client(user) for _ in range(4)]

    responses = run_concurrently(
        *(lambda client=client: disconnect(client, key="dc-race") for client in clients)
    )

    # never the 404 a second disconnect would get: each answer is the one success,
    # replayed, or "in flight"
    originals, replays, _conflicts = _outcomes(responses)
    assert len(originals) == 1
    for response in originals + replays:
        assert response.json() == {"success": True}
    assert not SocialAccount.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1


MANY_CALLERS = 20
POSTS_URL = "/api/v1/scheduled-posts"


def _retry_the_conflicts(responses, request) -> list:
    """Each request refused as "in flight" retried once, now that the first has finished."""
    return [request() if response.status_code == 409 else response for response in responses]


@pytest.mark.django_db(transaction=True)
def test_many_identical_disconnects_under_one_key_disconnect_once(idle_broker):
    # given: twenty threads of one API key, each on its own connection
    user = UserFactory()
    account = SocialAccountFactory(user=user, followers=100)
    SocialAccountFactory(user=user, platform=Platform.X, followers=40)
    _api_key, secret = api_key_for(personal_workspace(user), scopes=["social:write"])

    def request():
        return delete_account(key_client(secret), account, key="many-dc")

    # when
    responses = run_concurrently(*[request] * MANY_CALLERS)

    # then: one did the work; every other answer is that report replayed, or "in flight",
    # never the 404 a second disconnect would get
    originals, replays, conflicts = _outcomes(responses)
    assert len(originals) == 1
    assert len(originals) + len(replays) + len(conflicts) == MANY_CALLERS
    report = assert_success(originals[0])
    assert report["socialAccountId"] == account.public_id
    for replay in replays:
        assert assert_success(replay) == report
    # and a retry of each refused one gets the same report
    for response in _retry_the_conflicts(conflicts, request):
        assert_replayed(response)
        assert assert_success(response) == report
    # one effect
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1
    assert TokenRevocation.objects.count() == idle_broker.queued() == 1
    assert list(SocialAccount.objects.filter(user=user).values_list("platform", flat=True)) == ["x"]
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_many_identical_post_creates_under_one_key_create_one_post():
    # given: twenty threads of one user scheduling the same post under one key
    user = UserFactory()
    account = SocialAccountFactory(user=user, followers=100)
    body = {
        "text": "Launch day",
        "scheduledAt": (timezone.now() + timedelta(days=1)).isoformat(),
        "socialAccountIds": [account.public_id],
    }

    def request():
        return bearer_client(user).post(POSTS_URL, body, format="json", **with_key("many-post"))

    # when
    responses = run_concurrently(*[request] * MANY_CALLERS)

    # then: one post, and every answer (after retrying the "in flight" ones) names it
    originals, replays, conflicts = _outcomes(responses)
    assert len(originals) == 1
    created = assert_success(originals[0], 201)
    for response in replays + _retry_the_conflicts(conflicts, request):
        assert_replayed(response)
        assert assert_success(response, 201) == created
    assert list(ScheduledPost.objects.values_list("id", flat=True)) == [
        uuid.UUID(created["id"].removeprefix("sp_"))
    ]
    assert PostTarget.objects.count() == 1
    assert AuditEvent.objects.filter(action="scheduled_post.created").count() == 1


@pytest.mark.django_db(transaction=True)
def test_with_the_cache_down_the_database_still_runs_the_work_once(
    monkeypatch, settings, cache_down, caplog
):
    """With Redis unreachable there is no in-flight lock; the unique (caller, key) row must
    make the work run once, the others waiting on that row and then replaying its answer.

    Tested over HTTP on ``POST /workspaces``: every mutating endpoint is rate limited, and
    the limiter fails closed (503) with the cache down, so the ``workspace.write`` rate is
    set to ``None`` (django-ratelimit then skips the counter and never touches the cache).
    The first request stays in flight for half a second after its writes so the others
    really do arrive while it runs.
    """
    settings.RATELIMITS = {**settings.RATELIMITS, "workspace.write": None}
    caplog.set_level(logging.WARNING, logger="socialhub.api")
    user = UserFactory()
    created = _slow_workspace_create(monkeypatch)
    clients = [bearer_client(user) for _ in range(4)]

    responses = run_concurrently(
        *(lambda client=client: create_workspace(client, key="no-cache") for client in clients)
    )

    # the lock was really unavailable: the first request and at least one other got past
    # the stored-answer check with no lock and met the first on the database row
    assert caplog.text.count("Idempotency lock unavailable") >= 2
    originals, replays, conflicts = _outcomes(responses)
    assert (len(originals), len(replays), len(conflicts)) == (1, 3, 0)
    body = assert_success(originals[0], 201)
    for replay in replays:
        assert assert_success(replay, 201) == body
    assert created == ["Agency"]
    assert [ws.public_id for ws in shared_workspaces_of(user)] == [body["id"]]
    assert IdempotencyRecord.objects.count() == 1


# Encrypted at rest -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stored_answer_is_encrypted_at_rest(user, user_client):
    workspace = shared_workspace(user)
    secret = assert_success(create_api_key(user_client, workspace, key="enc-1"), 201)["key"]

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT response_body FROM {IdempotencyRecord._meta.db_table} WHERE key = %s",
            ["enc-1"],
        )
        [(raw,)] = cursor.fetchall()

    assert raw
    assert secret not in raw
    assert secret[:12] not in raw
    assert '"key"' not in raw
    # the model still hands back the answer itself
    stored = json.loads(IdempotencyRecord.objects.get(key="enc-1").response_body)
    assert stored["key"] == secret


# Atomic with the work ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_failure_after_the_work_commits_neither_work_nor_record(monkeypatch):
    user = UserFactory()
    client = bearer_client(user)
    real_workspace_create = workspace_views.workspace_create

    def create_then_fail(**kwargs):
        real_workspace_create(**kwargs)
        raise RuntimeError("injected fault after the workspace was written")

    monkeypatch.setattr(workspace_views, "workspace_create", create_then_fail)

    failed = create_workspace(client, key="atomic-1")

    assert_error(failed, 500, "INTERNAL")
    assert shared_workspaces_of(user) == []
    assert not AuditEvent.objects.filter(action="workspace.created").exists()
    assert not IdempotencyRecord.objects.exists()

    monkeypatch.undo()
    retried = create_workspace(client, key="atomic-1")

    created = assert_success(retried, 201)
    assert_not_replayed(retried)
    assert [ws.public_id for ws in shared_workspaces_of(user)] == [created["id"]]


@pytest.mark.django_db(transaction=True)
def test_a_failing_audit_write_rolls_back_the_api_key_and_the_record(monkeypatch):
    user = UserFactory()
    client = bearer_client(user)
    workspace = shared_workspace(user)

    def broken_audit(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(api_keys_service, "audit_event_record", broken_audit)

    assert_error(create_api_key(client, workspace, key="atomic-2"), 500, "INTERNAL")
    assert not ApiKey.objects.filter(workspace=workspace).exists()
    assert not IdempotencyRecord.objects.exists()

    monkeypatch.undo()
    retried = create_api_key(client, workspace, key="atomic-2")

    assert_success(retried, 201)
    assert_not_replayed(retried)
    assert ApiKey.objects.filter(workspace=workspace).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_audit_write_leaves_the_account_connected(monkeypatch):
    user = UserFactory()
    account = SocialAccountFactory(user=user, followers=100)
    client = partner_client(user)

    def broken_audit(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(disconnect_service, "audit_event_record", broken_audit)

    assert_error(delete_account(client, account, key="atomic-3"), 500, "INTERNAL")
    assert SocialAccount.objects.filter(pk=account.pk).exists()
    assert not IdempotencyRecord.objects.exists()

    monkeypatch.undo()
    retried = delete_account(client, account, key="atomic-3")

    assert assert_success(retried)["socialAccountId"] == account.public_id
    assert_not_replayed(retried)
    assert not SocialAccount.objects.filter(pk=account.pk).exists()


# Every mutating endpoint honours the key ----------------------------------------------------


def _mutating_handlers():
    """(view class, method name, handler) for every mutating method of the accounts API."""
    for pattern in account_urls.urlpatterns:
        view_class = pattern.callback.view_class
        for name in MUTATING:
            handler = getattr(view_class, name, None)
            if handler is not None:
                yield view_class, name, handler


def test_every_mutating_endpoint_but_auth_honours_the_key():
    checked, missing = set(), []
    for view_class, name, handler in _mutating_handlers():
        if view_class.__module__ == "accounts.views.auth":
            continue
        checked.add(f"{view_class.__name__}.{name}")
        if getattr(handler, "idempotent", False) is not True:
            missing.append(f"{view_class.__module__}.{view_class.__name__}.{name}")

    assert missing == []
    assert {  # the guard really looked at the endpoints it protects
        "CreatorSocialConnectStartView.post",
        "CreatorSocialConnectView.post",
        "CreatorSocialDisconnectView.post",
        "SocialAccountDetailView.delete",
        "LeasedAccountView.delete",
        "WorkspaceListView.post",
        "WorkspaceMembersView.post",
        "WorkspaceApiKeysView.post",
        "WorkspaceApiKeyView.delete",
    } <= checked


def test_auth_endpoints_do_not_take_the_key():
    auth_handlers = [
        f"{view_class.__name__}.{name}"
        for view_class, name, handler in _mutating_handlers()
        if view_class.__module__ == "accounts.views.auth"
    ]
    assert sorted(auth_handlers) == [
        "LoginView.post",
        "LogoutView.post",
        "RefreshView.post",
        "RegisterView.post",
    ]
    for view_class, _name, handler in _mutating_handlers():
        if view_class.__module__ == "accounts.views.auth":
            assert not getattr(handler, "idempotent", False)


@pytest.mark.django_db
def test_login_with_a_key_is_never_stored_or_replayed(api_client, user):
    body = {"email": user.email, "password": DEFAULT_PASSWORD}

    first = api_client.post(LOGIN_URL, body, format="json", **with_key("login-1"))
    second = api_client.post(LOGIN_URL, body, format="json", **with_key("login-1"))

    tokens = [assert_success(first), assert_success(second)]
    assert_not_replayed(second)
    assert tokens[0] != tokens[1]  # a fresh pair each time
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_the_schema_documents_the_key_exactly_where_it_is_honoured(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    mismatched = []
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        concrete = path.replace("{", "").replace("}", "")  # any value resolves the view
        view_class = resolve(concrete).func.view_class
        for method, operation in operations.items():
            if method not in MUTATING:
                continue
            documented = any(
                parameter.get("name") == "Idempotency-Key"
                for parameter in operation.get("parameters", [])
            )
            honoured = getattr(getattr(view_class, method), "idempotent", False) is True
            if documented != honoured:
                mismatched.append((method.upper(), path, documented, honoured))

    assert mismatched == []


# Roles are still checked before anything is replayed ----------------------------------------


@pytest.mark.django_db
def test_a_member_without_the_role_gets_403_not_a_stored_answer(user, user_client):
    """The key does not bypass authorisation: another member's key string runs their own
    (refused) request."""
    workspace = shared_workspace(user)
    member = UserFactory()
    Membership.objects.create(workspace=workspace, user=member, role=Membership.Role.MEMBER)
    assert_success(create_api_key(user_client, workspace, key="same"), 201)

    response = create_api_key(bearer_client(member), workspace, key="same")

    assert_error(response, 403, "FORBIDDEN_ROLE")
    assert ApiKey.objects.filter(workspace=workspace).count() == 1


@pytest.mark.django_db
def test_a_removed_admin_cannot_replay_a_live_api_key_secret():
    """Product bug: the replay happens in ``@idempotent`` before the view's own access
    check (``_membership`` / ``require_manager`` inside the handler), so for 24 h a user who
    has since been removed from the workspace gets 201 with the secret of a live API key of
    a workspace they no longer belong to, while the same request without the key is 404."""
    owner = UserFactory()
    workspace = shared_workspace(owner)
    admin = UserFactory()
    Membership.objects.create(workspace=workspace, user=admin, role=Membership.Role.ADMIN)
    client = bearer_client(admin)
    assert_success(create_api_key(client, workspace, key="before-removal"), 201)
    Membership.objects.filter(workspace=workspace, user=admin).delete()
    assert_error(client.get(api_keys_url(workspace)), 404, "NOT_FOUND")

    response = create_api_key(client, workspace, key="before-removal")

    assert response.status_code == 404, response.json()
    assert_not_replayed(response)


# Completing a connect calls the platform: no transaction is held open across it --------


@pytest.mark.django_db(transaction=True)
def test_a_retried_connect_replays_and_calls_the_platform_outside_any_transaction(
    user, user_client, monkeypatch
):
    seen_in_transaction = []
    exchange = SandboxProvider.exchange_code

    def watched_exchange(self, **kwargs):
        seen_in_transaction.append(connection.in_atomic_block)
        return exchange(self, **kwargs)

    monkeypatch.setattr(SandboxProvider, "exchange_code", watched_exchange)
    auth = authorize(user_client, "threads", handle="idem_th")
    body = {"platform": "threads", "code": auth.code, "state": auth.state}

    first = user_client.post(CONNECT_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    again = user_client.post(CONNECT_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="c-1")

    assert seen_in_transaction == [False]  # called once, with no transaction open
    connected = assert_success(first)
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    assert assert_success(again) == connected
    assert IdempotencyRecord.objects.filter(key="c-1", response_status=200).count() == 1
    other = dict(body, code="another-code")
    assert_error(
        user_client.post(CONNECT_URL, other, format="json", HTTP_IDEMPOTENCY_KEY="c-1"),
        409,
        "IDEMPOTENCY_CONFLICT",
    )


@pytest.mark.django_db(transaction=True)
def test_a_refused_connect_under_a_key_stores_nothing_and_still_revokes_the_tokens(
    user, user_client
):
    assert_success(connect(user_client, "threads", handle="first_th"))
    auth = authorize(user_client, "threads", handle="second_th")
    body = {"platform": "threads", "code": auth.code, "state": auth.state}

    with_key = user_client.post(CONNECT_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="c-2")

    assert_error(with_key, 409, "CONFLICT", "creator.social.already_connected")
    assert not IdempotencyRecord.objects.filter(key="c-2").exists()
    # The refused tokens were queued for revocation and revoked (tasks run eagerly).
    assert not TokenRevocation.objects.exists()
    assert live_credentials("second_th") == 0
