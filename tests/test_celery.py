"""Background work on a real Celery worker process with a Redis broker (not eager mode)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import SandboxCredential, SandboxPost, TokenRevocation
from accounts.services.actors import Actor
from accounts.services.disconnect import social_account_disconnect
from scheduling.models import PostTarget, ScheduledPost
from socialhub.api.ids import parse_public_id
from tests.celery_worker import BrokerProducer, start_worker
from tests.factories import UserFactory, sandbox_connected_account
from tests.helpers import account_url, assert_success, bearer_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def worker(live_server, tmp_path):
    running = start_worker(live_server_url=live_server.url, workdir=tmp_path)
    yield running
    running.stop()


def test_a_disconnect_committed_on_the_web_side_is_revoked_upstream_by_the_worker(worker):
    user = UserFactory()
    account = sandbox_connected_account(user, "instagram", handle="worker_revoke")
    live_before = SandboxCredential.objects.filter(revoked_at__isnull=True).count()

    with BrokerProducer(worker.queue):
        assert_success(bearer_client(user).delete(account_url(account)))

    worker.wait_for(
        lambda: not TokenRevocation.objects.exists(), what="the outbox row to be processed"
    )
    assert live_before > 0
    assert (
        not SandboxCredential.objects.filter(
            account__handle="worker_revoke", revoked_at__isnull=True
        )
        .exclude(kind=SandboxCredential.Kind.CODE)
        .exists()
    )
    assert "token_revocation_process_task" in worker.log()
    assert "succeeded" in worker.log()


def test_rolled_back_work_enqueues_nothing(live_server, tmp_path):
    user = UserFactory()
    account = sandbox_connected_account(user, "x", handle="rolled_back")

    with BrokerProducer("test-rollback") as producer:
        with pytest.raises(RuntimeError), transaction.atomic():
            social_account_disconnect(
                account=account, actor=Actor.for_user(user), reason="revoked_by_user"
            )
            raise RuntimeError("the caller's transaction fails after the disconnect")
        assert producer.queued() == 0

        social_account_disconnect(
            account=account, actor=Actor.for_user(user), reason="revoked_by_user"
        )
        assert producer.queued() == 1  # committed: the revoke task is on the broker


def schedule_post(user, account, *, text: str, seconds_ahead: float = 1.0) -> dict:
    """A post through the API, due ``seconds_ahead`` from now."""
    when = timezone.now() + dt.timedelta(seconds=seconds_ahead)
    return assert_success(
        bearer_client(user).post(
            "/api/v1/scheduled-posts",
            {
                "text": text,
                "scheduledAt": when.isoformat(),
                "socialAccountIds": [account.public_id],
            },
            format="json",
        ),
        201,
    )


def published_target(post: dict) -> PostTarget | None:
    return PostTarget.objects.filter(
        post_id=parse_public_id("sp", post["id"]), status=PostTarget.Status.PUBLISHED
    ).first()


def test_a_worker_with_beat_publishes_a_scheduled_post_through_the_sandbox(live_server, tmp_path):
    user = UserFactory()
    account = sandbox_connected_account(user, "bluesky", handle="beat_publisher")
    worker = start_worker(
        live_server_url=live_server.url,
        workdir=tmp_path,
        beat=True,
        env={"PUBLISH_DUE_INTERVAL": "1"},
    )
    try:
        post = schedule_post(user, account, text="Hello from the scheduler", seconds_ahead=2)
        target = worker.wait_for(lambda: published_target(post), what="the post to be published")
    finally:
        worker.stop()

    upstream = SandboxPost.objects.get(account__handle="beat_publisher")
    assert upstream.text == "Hello from the scheduler"
    assert target.platform_post_id == upstream.upstream_id
    assert ScheduledPost.objects.get(pk=target.post_id).status == ScheduledPost.Status.PUBLISHED


def test_a_publish_whose_worker_died_mid_call_is_redelivered_and_published_once(
    live_server, tmp_path
):
    user = UserFactory()
    account = sandbox_connected_account(user, "threads", handle="crash_publisher")
    marker = tmp_path / "died"
    worker = start_worker(
        live_server_url=live_server.url,
        workdir=tmp_path,
        env={"SOCIALHUB_TEST_DIE_AFTER_PUBLISH": str(marker)},
    )
    try:
        post = schedule_post(user, account, text="Exactly once", seconds_ahead=0.5)
        time.sleep(0.6)
        worker.send("scheduling.tasks.post_targets_publish_due_task")
        target = worker.wait_for(lambda: published_target(post), what="the post to be published")
    finally:
        worker.stop()

    assert marker.exists()  # a worker process really died after the platform took the post
    assert "WorkerLostError" in worker.log()
    upstream = SandboxPost.objects.filter(account__handle="crash_publisher")
    assert upstream.count() == 1
    assert target.platform_post_id == upstream.get().upstream_id
