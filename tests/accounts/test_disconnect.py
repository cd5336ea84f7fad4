"""The disconnect service: cascade, report, dry run, audit trail, the revoke that
waits for commit, rollback on a fault, statement count and concurrent callers."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import (
    AuditEvent,
    CreatorProfile,
    InboxItem,
    Lease,
    MetricsSnapshot,
    Platform,
    SocialAccount,
    SocialMetrics,
    TokenRevocation,
    WebhookDelivery,
)
from accounts.providers import ProviderDefinitiveError, SandboxProvider
from accounts.services import disconnect as disconnect_module
from accounts.services import followers as followers_module
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from accounts.services.sandbox import sandbox_grant_issue
from scheduling.models import PostTarget, ScheduledPost
from socialhub.api.errors import ApplicationError, ErrorCode
from tests.factories import (
    InboxItemFactory,
    LeaseFactory,
    MetricsSnapshotFactory,
    PostTargetFactory,
    ScheduledPostFactory,
    SocialAccountFactory,
    UserFactory,
    account_with_history,
)
from tests.helpers import followers_of, live_credentials, run_concurrently
from tests.webhook_receiver import endpoint_for

pytestmark = pytest.mark.django_db

Status = PostTarget.Status
PostStatus = ScheduledPost.Status

# Statements one disconnect sends, whatever the account's history (pinned so a regression
# that adds a round trip, or one per row, fails here). Locking the posts, settling them and
# canceling the targets only run when the account has queued targets, hence three statements
# less with nothing queued. One of them reads the workspace's webhook endpoints; with none
# subscribed (as here) no delivery is written. One waits for a publish in flight with the
# account's token (an advisory lock).
DISCONNECT_QUERIES = 20
DISCONNECT_QUERIES_NOTHING_QUEUED = DISCONNECT_QUERIES - 3
DRY_RUN_QUERIES = 1


def disconnect(account, *, actor=None, reason=DisconnectReason.REVOKED_BY_USER, dry_run=False):
    return social_account_disconnect(
        account=account,
        actor=actor or Actor.system("tests"),
        reason=reason,
        dry_run=dry_run,
    )


def counts(report) -> tuple[int, int, int, int]:
    """What a report says it did: canceled targets, metrics, snapshots, inbox items."""
    return (
        report.canceled_scheduled_posts,
        report.purged_metrics,
        report.purged_metrics_snapshots,
        report.purged_inbox_items,
    )


def database_state() -> dict:
    """Every table the disconnect may touch, read back in full (tokens excepted)."""
    return {
        "accounts": set(SocialAccount.objects.values_list("id", "status")),
        "metrics": set(SocialMetrics.objects.values_list("social_account_id", "follower_count")),
        "snapshots": set(MetricsSnapshot.objects.values_list("id", "social_account_id")),
        "inbox": set(InboxItem.objects.values_list("id", "social_account_id")),
        "targets": set(
            PostTarget.objects.values_list("id", "status", "social_account_id", "canceled_reason")
        ),
        "posts": set(ScheduledPost.objects.values_list("id", "status")),
        "leases": set(Lease.objects.values_list("id", "social_account_id", "released_at")),
        "revocations": set(TokenRevocation.objects.values_list("id", "attempts")),
        "audit": set(AuditEvent.objects.values_list("id", "action")),
        "followers": set(CreatorProfile.objects.values_list("user_id", "total_followers")),
    }


@pytest.fixture
def history(user, account):
    """``account`` (instagram, 1200 followers) with history, a second account of the same
    creator (x, 800 followers) sharing posts with it, and a stranger's account."""
    sibling = SocialAccountFactory(user=user, platform=Platform.X, followers=800)
    stranger = SocialAccountFactory(followers=50)
    for owner, snapshots, inbox in ((account, 3, 2), (sibling, 2, 1), (stranger, 4, 3)):
        MetricsSnapshotFactory.create_batch(snapshots, social_account=owner)
        InboxItemFactory.create_batch(inbox, social_account=owner)

    def post_with(*targets):
        post = ScheduledPostFactory(author=user)
        for target_account, status in targets:
            PostTargetFactory(post=post, social_account=target_account, status=status)
        return post

    published = PostTargetFactory(
        social_account=account,
        status=Status.PUBLISHED,
        platform_post_id="ig-123",
        published_at=timezone.now() - dt.timedelta(days=3),
    )
    published.post.status = PostStatus.PUBLISHED
    published.post.save()
    return SimpleNamespace(
        account=account,
        sibling=sibling,
        stranger=stranger,
        only_target_queued=post_with((account, Status.QUEUED)),
        shared_both_queued=post_with((account, Status.QUEUED), (sibling, Status.QUEUED)),
        shared_sibling_published=post_with((account, Status.QUEUED), (sibling, Status.PUBLISHED)),
        stranger_queued=PostTargetFactory(social_account=stranger),
        published=published,
        failed=PostTargetFactory(social_account=account, status=Status.FAILED, error="boom"),
    )


# --- the cascade ------------------------------------------------------------------------


def test_disconnect_purges_the_accounts_cached_data_and_nothing_else(history):
    # given
    account, sibling, stranger = history.account, history.sibling, history.stranger
    others_before = {
        "snapshots": set(MetricsSnapshot.objects.exclude(social_account=account).values_list("id")),
        "inbox": set(InboxItem.objects.exclude(social_account=account).values_list("id")),
        "metrics": set(SocialMetrics.objects.exclude(social_account=account).values_list("id")),
    }

    # when
    disconnect(account)

    # then
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert not SocialMetrics.objects.filter(social_account_id=account.pk).exists()
    assert not MetricsSnapshot.objects.filter(social_account_id=account.pk).exists()
    assert not InboxItem.objects.filter(social_account_id=account.pk).exists()
    assert others_before == {
        "snapshots": set(MetricsSnapshot.objects.values_list("id")),
        "inbox": set(InboxItem.objects.values_list("id")),
        "metrics": set(SocialMetrics.objects.values_list("id")),
    }
    assert SocialAccount.objects.filter(pk__in=[sibling.pk, stranger.pk]).count() == 2


def test_disconnect_keeps_published_history_with_its_account_snapshot(history):
    # given
    published = history.published
    handle = history.account.platform_username

    # when
    disconnect(history.account)

    # then
    published.refresh_from_db()
    assert published.social_account_id is None
    assert published.status == Status.PUBLISHED
    assert (published.account_platform, published.account_handle) == (Platform.INSTAGRAM, handle)
    assert published.platform_post_id == "ig-123"
    assert published.published_at is not None
    assert ScheduledPost.objects.get(pk=published.post_id).status == PostStatus.PUBLISHED
    failed = PostTarget.objects.get(pk=history.failed.pk)
    assert (failed.status, failed.social_account_id, failed.canceled_reason) == (
        Status.FAILED,
        None,
        "",
    )


def test_disconnect_cancels_queued_targets_and_settles_their_posts(history):
    # when
    disconnect(history.account)

    # then: every queued target of the account is canceled, with the reason
    canceled = PostTarget.objects.filter(
        post__in=[
            history.only_target_queued,
            history.shared_both_queued,
            history.shared_sibling_published,
        ],
        account_platform=Platform.INSTAGRAM,
    )
    assert canceled.count() == 3
    assert set(canceled.values_list("status", "canceled_reason", "social_account_id")) == {
        (Status.CANCELED, "account_disconnected", None)
    }
    # and each post ends where its remaining targets put it
    status_of = dict(ScheduledPost.objects.values_list("id", "status"))
    assert status_of[history.only_target_queued.pk] == PostStatus.CANCELED
    assert status_of[history.shared_both_queued.pk] == PostStatus.QUEUED
    assert status_of[history.shared_sibling_published.pk] == PostStatus.PARTIALLY_PUBLISHED
    assert status_of[history.stranger_queued.post_id] == PostStatus.QUEUED
    # the other accounts' targets are untouched
    sibling_target = history.shared_both_queued.targets.get(social_account=history.sibling)
    assert (sibling_target.status, sibling_target.canceled_reason) == (Status.QUEUED, "")
    history.stranger_queued.refresh_from_db()
    assert history.stranger_queued.status == Status.QUEUED


def test_disconnect_report_counts_what_really_changed(history):
    # given
    account = history.account
    queued = PostTarget.objects.filter(social_account=account, status=Status.QUEUED).count()

    # when
    report = disconnect(account, reason=DisconnectReason.REVOKED_BY_STAFF)

    # then
    assert queued == 3
    assert counts(report) == (3, 1, 3, 2)
    assert (
        PostTarget.objects.filter(canceled_reason="account_disconnected").count()
        == report.canceled_scheduled_posts
    )
    assert report.social_account_id == account.public_id
    assert report.user_id == account.user.public_id
    assert report.workspace_id == account.workspace.public_id
    assert (report.platform, report.handle) == (Platform.INSTAGRAM, account.platform_username)
    assert report.reason == "revoked_by_staff"
    assert report.dry_run is False
    assert report.as_dict()["canceled_scheduled_posts"] == 3


def test_disconnect_of_an_account_without_metrics_or_history(user):
    # given: a bare account, no metrics row, no tokens
    account = SocialAccountFactory(user=user, access_token="", refresh_token="")
    SocialAccountFactory(user=user, platform=Platform.X, followers=800)

    # when
    report = disconnect(account)

    # then
    assert counts(report) == (0, 0, 0, 0)
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert not TokenRevocation.objects.exists()  # nothing to revoke upstream
    assert followers_of(user) == 800


def test_disconnect_leaves_a_lease_open_on_the_released_account(account):
    # given
    lease = LeaseFactory(social_account=account)

    # when
    disconnect(account)

    # then: disconnecting does not release the billing ; the lease outlives it
    lease.refresh_from_db()
    assert lease.social_account_id is None
    assert lease.released_at is None
    assert lease.account_public_id == account.public_id
    assert lease.price_cents == 999


def test_disconnecting_a_gone_account_is_not_found(account):
    # given
    stale = SocialAccount.objects.get(pk=account.pk)
    disconnect(account)
    audit_before = AuditEvent.objects.count()

    # when / then
    with pytest.raises(ApplicationError) as excinfo:
        disconnect(stale)
    assert excinfo.value.code is ErrorCode.NOT_FOUND
    assert excinfo.value.status == 404
    with pytest.raises(ApplicationError) as excinfo:
        disconnect(stale, dry_run=True)
    assert excinfo.value.code is ErrorCode.NOT_FOUND
    assert AuditEvent.objects.count() == audit_before


def test_unknown_reason_is_refused_before_anything_changes(account):
    # given
    before = database_state()

    # when / then
    with pytest.raises(ValueError, match="not_a_reason"):
        disconnect(account, reason="not_a_reason")
    assert database_state() == before


# --- total_followers --------------------------------------------------------------------


def test_disconnect_recomputes_total_followers_from_the_remaining_accounts(user, account):
    # given
    SocialAccountFactory(user=user, platform=Platform.YOUTUBE, followers=800)
    stranger = SocialAccountFactory(followers=50)
    assert followers_of(user) == 2000

    # when
    disconnect(account)

    # then
    assert followers_of(user) == 800
    assert followers_of(stranger.user) == 50


# --- dry run ----------------------------------------------------------------------------


def test_dry_run_reports_what_the_real_run_does_and_changes_nothing(
    history, caplog, django_capture_on_commit_callbacks
):
    # given
    caplog.set_level(logging.INFO, logger="socialhub.social")
    before = database_state()

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        preview = disconnect(history.account, dry_run=True)

    # then: nothing changed, nothing queued, nothing logged
    assert database_state() == before
    assert callbacks == []
    assert "Disconnected" not in caplog.text
    assert preview.dry_run is True

    # and the real run reports the same
    report = disconnect(history.account)
    ignored = {"dry_run", "disconnected_at"}
    assert {k: v for k, v in preview.as_dict().items() if k not in ignored} == {
        k: v for k, v in report.as_dict().items() if k not in ignored
    }
    assert counts(preview) == (3, 1, 3, 2)


# --- audit trail and log ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_actor", "reason", "actor_type"),
    [
        (Actor.for_user, DisconnectReason.REVOKED_BY_USER, "user"),
        (lambda _user: Actor.system("cli"), DisconnectReason.OFFBOARDING, "system"),
    ],
)
def test_disconnect_writes_one_audit_event_and_the_log_line(
    history, caplog, make_actor, reason, actor_type, django_capture_on_commit_callbacks
):
    # given
    account, user = history.account, history.account.user
    actor = make_actor(user)
    caplog.set_level(logging.INFO, logger="socialhub.social")

    # when: the log line is written once the disconnect has committed
    with django_capture_on_commit_callbacks(execute=True):
        disconnect(account, actor=actor, reason=reason)

    # then
    event = AuditEvent.objects.get(action="social_account.disconnected")
    assert (event.actor_type, event.actor_id) == (actor_type, actor.id)
    assert event.workspace_id == account.workspace.public_id
    assert event.subject_ids == [account.public_id, user.public_id]
    assert event.data == {
        "platform": "instagram",
        "handle": account.platform_username,
        "reason": reason.value,
        "canceledScheduledPosts": 3,
        "purged": {"metrics": 1, "metricsSnapshots": 3, "inboxItems": 2},
    }
    lines = [r.getMessage() for r in caplog.records if r.name == "socialhub.social"]
    assert f"[social] Disconnected instagram for user {user.public_id}" in lines
    assert user.public_id.startswith("usr_")


# --- after commit: the upstream revoke --------------------------------------------------


@pytest.fixture
def sandbox_account(user):
    """An account holding real sandbox tokens, so a revoke is visible at the platform."""
    tokens = sandbox_grant_issue(platform=Platform.INSTAGRAM, handle="revoke_me")
    account = SocialAccountFactory(
        user=user,
        followers=1200,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
    )
    return SimpleNamespace(account=account, tokens=tokens)


def test_tokens_are_revoked_at_the_platform_after_commit(
    sandbox_account, sandbox_http, django_capture_on_commit_callbacks
):
    # given: the platform accepts the tokens
    provider = SandboxProvider(Platform.INSTAGRAM)
    assert provider.fetch_profile(access_token=sandbox_account.tokens.access_token)
    assert live_credentials("revoke_me") == 2

    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        disconnect(sandbox_account.account)

    # then: the revoke task and the log line ran once the disconnect committed
    assert len(callbacks) == 2
    assert ("POST", "/sandbox/oauth/revoke") in sandbox_http.calls
    assert live_credentials("revoke_me") == 0
    with pytest.raises(ProviderDefinitiveError):
        provider.fetch_profile(access_token=sandbox_account.tokens.access_token)
    with pytest.raises(ProviderDefinitiveError):
        provider.refresh(refresh_token=sandbox_account.tokens.refresh_token)
    assert not TokenRevocation.objects.exists()


def test_nothing_is_revoked_before_commit(
    sandbox_account, sandbox_http, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        disconnect(sandbox_account.account)

    # then: the revoke (and the log line) wait for the commit; the tokens wait in the outbox
    assert len(callbacks) == 2
    assert sandbox_http.calls == []
    assert live_credentials("revoke_me") == 2
    outbox = TokenRevocation.objects.get()
    assert outbox.account_public_id == sandbox_account.account.public_id
    assert outbox.platform == Platform.INSTAGRAM
    assert outbox.access_token == sandbox_account.tokens.access_token
    assert outbox.refresh_token == sandbox_account.tokens.refresh_token
    assert outbox.attempts == 0


def test_a_rolled_back_disconnect_enqueues_nothing_and_keeps_the_account(
    sandbox_account, sandbox_http, django_capture_on_commit_callbacks, caplog
):
    # given
    account = sandbox_account.account
    before = database_state()
    caplog.set_level(logging.INFO, logger="socialhub.social")

    # when
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError, match="caller failed"),
        transaction.atomic(),
    ):
        disconnect(account)
        raise RuntimeError("caller failed after the disconnect")

    # then: nothing enqueued, nothing revoked, nothing claims a disconnect happened
    assert callbacks == []
    assert sandbox_http.calls == []
    assert "Disconnected" not in caplog.text
    assert database_state() == before
    assert live_credentials("revoke_me") == 2
    assert SocialAccount.objects.get(pk=account.pk).access_token == (
        sandbox_account.tokens.access_token
    )


# --- a fault half-way rolls everything back ---------------------------------------------


def _fail_after(monkeypatch, owner, name: str, ran: list[str]) -> None:
    """Make ``owner.name`` (a module's function or a model's method) do its work, then
    raise."""
    real = getattr(owner, name)

    def run_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        ran.append(name)
        raise RuntimeError(f"injected fault after {name}")

    monkeypatch.setattr(owner, name, run_then_fail)


def _fail_after_the_lease_release(monkeypatch, ran: list[str]) -> None:
    """The open leases' UPDATE runs, then the disconnect fails."""
    real = disconnect_module._open_leases

    class ReleaseThenFail:
        def __init__(self, leases):
            self.leases = leases

        def update(self, **values):
            self.leases.update(**values)
            ran.append("_open_leases")
            raise RuntimeError("injected fault after the lease release")

    monkeypatch.setattr(disconnect_module, "_open_leases", lambda a: ReleaseThenFail(real(a)))


# Every step of the service, in the order it runs, as (what fails, the injector). The
# upstream revoke and the deliveries are sent only after commit (see the broker tests).
FAULTS = {
    "social_account_platform_calls_wait": lambda mp, ran: _fail_after(
        mp, disconnect_module, "social_account_platform_calls_wait", ran
    ),
    "post_targets_cancel_for_disconnect": lambda mp, ran: _fail_after(
        mp, disconnect_module, "post_targets_cancel_for_disconnect", ran
    ),
    "_queue_token_revocation": lambda mp, ran: _fail_after(
        mp, disconnect_module, "_queue_token_revocation", ran
    ),
    "_open_leases": _fail_after_the_lease_release,
    # inside the delete: the cascade purges, then the metrics signal recomputes the total
    "creator_followers_recompute_for_account": lambda mp, ran: _fail_after(
        mp, followers_module, "creator_followers_recompute_for_account", ran
    ),
    "delete": lambda mp, ran: _fail_after(mp, SocialAccount, "delete", ran),
    "audit_event_record": lambda mp, ran: _fail_after(
        mp, disconnect_module, "audit_event_record", ran
    ),
    "webhook_event_emit": lambda mp, ran: _fail_after(
        mp, disconnect_module, "webhook_event_emit", ran
    ),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", list(FAULTS))
def test_a_fault_mid_disconnect_changes_nothing(step, monkeypatch, sandbox_http, caplog):
    # given: an account with history, an open lease ended with it (as offboarding does),
    # and an endpoint subscribed to disconnects
    user = UserFactory()
    account = SocialAccountFactory(user=user, followers=1200)
    SocialAccountFactory(user=user, platform=Platform.X, followers=800)
    MetricsSnapshotFactory.create_batch(3, social_account=account)
    InboxItemFactory.create_batch(2, social_account=account)
    queued = PostTargetFactory(social_account=account)
    published = PostTargetFactory(social_account=account, status=Status.PUBLISHED)
    lease = LeaseFactory(social_account=account)
    endpoint_for(account.workspace, "http://127.0.0.1:9/hook", ["account.disconnected"])
    before = database_state()
    ran: list[str] = []
    FAULTS[step](monkeypatch, ran)
    caplog.set_level(logging.INFO, logger="socialhub.social")

    def run():
        return social_account_disconnect(
            account=account,
            actor=Actor.for_user(user),
            reason=DisconnectReason.OFFBOARDING,
            release_leases=True,
        )

    # when
    with pytest.raises(RuntimeError, match="injected fault"):
        run()

    # then: the step really ran, and all of it was rolled back
    assert ran == [step]
    assert database_state() == before
    assert followers_of(user) == 2000
    assert MetricsSnapshot.objects.filter(social_account=account).count() == 3
    assert InboxItem.objects.filter(social_account=account).count() == 2
    queued.refresh_from_db()
    published.refresh_from_db()
    assert (queued.status, queued.social_account_id) == (Status.QUEUED, account.pk)
    assert published.social_account_id == account.pk
    assert ScheduledPost.objects.get(pk=queued.post_id).status == PostStatus.QUEUED
    lease.refresh_from_db()
    assert (lease.social_account_id, lease.released_at) == (account.pk, None)
    assert not TokenRevocation.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert not AuditEvent.objects.filter(action="social_account.disconnected").exists()
    assert sandbox_http.calls == []
    assert "Disconnected" not in caplog.text

    # and a retry without the fault does all of it
    monkeypatch.undo()
    report = run()
    assert (report.canceled_scheduled_posts, report.released_leases) == (1, 1)
    assert followers_of(user) == 800
    assert WebhookDelivery.objects.count() == 1


# --- cost does not grow with history ----------------------------------------------------


def _statement_kinds(captured) -> list[tuple[str, str]]:
    """(verb, table) per statement: comparable across runs, unlike savepoint names."""
    kinds = []
    for query in captured.captured_queries:
        table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)', query["sql"])
        kinds.append((query["sql"].split()[0], table.group(1) if table else ""))
    return kinds


def test_disconnect_statement_count_does_not_grow_with_history(user, django_assert_num_queries):
    # given
    small = account_with_history(user, Platform.X, queued=1, published=1, snapshots=1, inbox=1)
    large = account_with_history(
        user, Platform.YOUTUBE, queued=200, published=50, snapshots=2000, inbox=200
    )
    actor = Actor.for_user(user)

    # when
    with django_assert_num_queries(DISCONNECT_QUERIES) as small_queries:
        small_report = disconnect(small, actor=actor)
    with django_assert_num_queries(DISCONNECT_QUERIES) as large_queries:
        large_report = disconnect(large, actor=actor)

    # then: the same statements, and they did all the work
    assert counts(small_report) == (1, 1, 1, 1)
    assert _statement_kinds(small_queries) == _statement_kinds(large_queries)
    assert counts(large_report) == (200, 1, 2000, 200)
    assert not PostTarget.objects.filter(status=Status.QUEUED).exists()
    assert PostTarget.objects.filter(status=Status.PUBLISHED, social_account=None).count() == 51


def test_disconnect_with_nothing_queued_skips_only_the_post_settling(
    user, django_assert_num_queries
):
    # given
    bare = account_with_history(user, Platform.X, queued=0, published=0, snapshots=0, inbox=0)
    large = account_with_history(
        user, Platform.YOUTUBE, queued=0, published=50, snapshots=2000, inbox=200
    )
    actor = Actor.for_user(user)

    # when
    with django_assert_num_queries(DISCONNECT_QUERIES_NOTHING_QUEUED) as bare_queries:
        disconnect(bare, actor=actor)
    with django_assert_num_queries(DISCONNECT_QUERIES_NOTHING_QUEUED) as large_queries:
        disconnect(large, actor=actor)

    # then
    assert _statement_kinds(bare_queries) == _statement_kinds(large_queries)
    assert not any("scheduling_scheduledpost" in q["sql"] for q in bare_queries.captured_queries)


def test_dry_run_is_one_query_whatever_the_history(user, django_assert_num_queries):
    # given
    small = account_with_history(user, Platform.X, queued=0, published=0, snapshots=0, inbox=0)
    large = account_with_history(
        user, Platform.YOUTUBE, queued=200, published=50, snapshots=2000, inbox=200
    )

    # when
    with django_assert_num_queries(DRY_RUN_QUERIES):
        small_preview = disconnect(small, dry_run=True)
    with django_assert_num_queries(DRY_RUN_QUERIES):
        large_preview = disconnect(large, dry_run=True)

    # then
    assert counts(small_preview) == (0, 1, 0, 0)
    assert counts(large_preview) == (200, 1, 2000, 200)


# --- concurrent callers -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_disconnects_of_one_account_succeed_exactly_once(sandbox_http):
    # given
    user = UserFactory()
    account = SocialAccountFactory(user=user, followers=1200)
    SocialAccountFactory(user=user, platform=Platform.X, followers=800)
    PostTargetFactory(social_account=account)
    MetricsSnapshotFactory.create_batch(5, social_account=account)
    callers = 8

    def caller() -> tuple[str, object]:
        try:
            return "report", disconnect(account, actor=Actor.system("cli"))
        except ApplicationError as exc:
            return "error", exc.code

    # when: all released together, each on its own connection; anything else raised fails
    outcomes = run_concurrently(*[caller] * callers)

    # then
    reports = [value for kind, value in outcomes if kind == "report"]
    errors = [value for kind, value in outcomes if kind == "error"]
    assert len(reports) == 1
    assert errors == [ErrorCode.NOT_FOUND] * (callers - 1)
    assert reports[0].canceled_scheduled_posts == 1
    assert reports[0].purged_metrics_snapshots == 5
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert PostTarget.objects.get().status == Status.CANCELED
    assert followers_of(user) == 800
    assert not TokenRevocation.objects.exists()  # the one revoke ran after the commit
    assert sandbox_http.calls.count(("POST", "/sandbox/oauth/revoke")) == 2


def _wait_until_a_backend_waits_on_a_lock(other: threading.Thread, timeout: float = 5) -> None:
    """Block until another connection of this database waits on a row lock (or ``other``
    finished without waiting)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while other.is_alive() and time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("share_a_post", [False, True], ids=["own_posts", "shared_post"])
def test_parallel_disconnects_of_two_accounts_of_one_creator(monkeypatch, share_a_post):
    # given: a creator with three accounts; the two disconnected ones have queued posts,
    # either one each (they meet on the follower total) or one together (they meet first on
    # the post, then on the total)
    user = UserFactory()
    first = SocialAccountFactory(user=user, platform=Platform.INSTAGRAM, followers=1200)
    second = SocialAccountFactory(user=user, platform=Platform.X, followers=800)
    SocialAccountFactory(user=user, platform=Platform.YOUTUBE, followers=500)
    if share_a_post:
        shared = ScheduledPostFactory(author=user)
        PostTargetFactory(post=shared, social_account=first)
        PostTargetFactory(post=shared, social_account=second)
    else:
        PostTargetFactory(social_account=first)
        PostTargetFactory(social_account=second)
    # the first disconnect pauses just before its commit, until the second one is blocked
    first_done_its_writes, let_first_commit = threading.Event(), threading.Event()
    real_audit_event_record = disconnect_module.audit_event_record

    def audit_then_pause(**kwargs):
        event = real_audit_event_record(**kwargs)
        if kwargs["subject_ids"][0] == first.public_id:
            first_done_its_writes.set()
            let_first_commit.wait(timeout=10)
        return event

    monkeypatch.setattr(disconnect_module, "audit_event_record", audit_then_pause)
    failures = []

    def disconnect_in_thread(account) -> None:
        try:
            disconnect(account, actor=Actor.for_user(user))
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    first_thread = threading.Thread(target=disconnect_in_thread, args=(first,))
    second_thread = threading.Thread(target=disconnect_in_thread, args=(second,))

    # when: the second disconnect runs while the first is still uncommitted
    first_thread.start()
    assert first_done_its_writes.wait(timeout=10)
    second_thread.start()
    _wait_until_a_backend_waits_on_a_lock(second_thread)
    let_first_commit.set()
    first_thread.join(timeout=10)
    second_thread.join(timeout=10)

    # then: the second saw the first's committed work; nothing is left stale
    assert failures == []
    assert followers_of(user) == 500
    assert set(ScheduledPost.objects.values_list("status", flat=True)) == {PostStatus.CANCELED}
    assert set(PostTarget.objects.values_list("status", flat=True)) == {Status.CANCELED}
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 2
