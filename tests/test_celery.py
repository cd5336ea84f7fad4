"""Background work on a real Celery worker process with a Redis broker (not eager mode)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import (
    AuditEvent,
    SandboxCredential,
    SandboxPost,
    SocialAccount,
    TokenRevocation,
)
from accounts.services.actors import Actor
from accounts.services.disconnect import social_account_disconnect
from scheduling.models import PostTarget, ScheduledPost
from socialhub.api.ids import parse_public_id
from tests.celery_worker import BrokerProducer, start_worker
from tests.factories import (
    UserFactory,
    account_in,
    sandbox_connected_account,
    shared_workspace,
)
from tests.helpers import account_url, assert_success, bearer_client, followers_of

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


def live_tokens(handle: str) -> bool:
    """Whether the sandbox still accepts any access or refresh token of ``handle``."""
    return (
        SandboxCredential.objects.filter(account__handle=handle, revoked_at__isnull=True)
        .exclude(kind=SandboxCredential.Kind.CODE)
        .exists()
    )


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
        post = schedule_post(user, account, text="Exactly once", seconds_ahead=60)
        ScheduledPost.objects.filter(pk=parse_public_id("sp", post["id"])).update(
            scheduled_at=timezone.now()  # due now, without waiting for it
        )
        worker.send("scheduling.tasks.post_targets_publish_due_task")
        target = worker.wait_for(lambda: published_target(post), what="the post to be published")
    finally:
        worker.stop()

    assert marker.exists()  # a worker process really died after the platform took the post
    assert "WorkerLostError" in worker.log()
    upstream = SandboxPost.objects.filter(account__handle="crash_publisher")
    assert upstream.count() == 1
    assert target.platform_post_id == upstream.get().upstream_id


def test_a_revoke_whose_worker_died_mid_call_ends_revoked_once(live_server, tmp_path):
    """The worker dies right after the platform revoked the tokens, before the outbox row
    was deleted. The redelivered task finds the row still claimed (its lease keeps a
    duplicate delivery off the platform) and leaves it; once the lease runs out the
    periodic sweep sends it again and the row ends, with the tokens revoked."""
    user = UserFactory()
    account = sandbox_connected_account(user, "instagram", handle="crash_revoker")
    marker = tmp_path / "died"
    worker = start_worker(
        live_server_url=live_server.url,
        workdir=tmp_path,
        env={"SOCIALHUB_TEST_DIE_AFTER_REVOKE": str(marker)},
    )
    try:
        with BrokerProducer(worker.queue):
            assert_success(bearer_client(user).delete(account_url(account)))
        worker.wait_for(lambda: "'not_due'" in worker.log(), what="the redelivered task")
        assert marker.exists()  # a worker process really died after the platform revoked
        assert "WorkerLostError" in worker.log()
        [row] = TokenRevocation.objects.all()  # kept: its task never confirmed
        assert row.attempts == 1
        assert not live_tokens("crash_revoker")  # revoked upstream before the crash

        # the lease runs out (five minutes in production), and the periodic sweep runs
        TokenRevocation.objects.update(next_attempt_at=timezone.now())
        worker.send("accounts.tasks.revocation.token_revocations_sweep_task")
        worker.wait_for(lambda: not TokenRevocation.objects.exists(), what="the sweep")
    finally:
        worker.stop()

    assert "'revoked'" in worker.log()
    assert not live_tokens("crash_revoker")


def test_an_offboarding_whose_worker_died_mid_run_is_redelivered_and_finishes_once(
    live_server, tmp_path
):
    """The worker dies right after the first account's disconnect committed; the task is
    delivered again and the re-run disconnects what is left, each account once."""
    owner, staff = UserFactory(), UserFactory()
    workspace = shared_workspace(owner, "Leaving")
    accounts = [
        account_in(workspace, owner, platform, followers=100, queued=1, snapshots=2)
        for platform in ("instagram", "x", "youtube")
    ]
    marker = tmp_path / "died"
    worker = start_worker(
        live_server_url=live_server.url,
        workdir=tmp_path,
        env={"SOCIALHUB_TEST_DIE_AFTER_DISCONNECT": str(marker)},
    )
    try:
        worker.send(
            "accounts.tasks.offboarding.workspace_offboard_task", str(workspace.pk), str(staff.pk)
        )
        summary = worker.wait_for(
            lambda: AuditEvent.objects.filter(action="workspace.offboarded").first(),
            what="the offboarding to finish",
        )
    finally:
        worker.stop()

    assert marker.exists()  # a worker process really died after one committed disconnect
    assert "WorkerLostError" in worker.log()
    assert not SocialAccount.objects.filter(workspace=workspace).exists()
    disconnects = Counter(
        event.subject_ids[0]
        for event in AuditEvent.objects.filter(action="social_account.disconnected")
    )
    assert disconnects == Counter({account.public_id: 1 for account in accounts})
    # one summary, the re-run's: it did the two that were left
    assert AuditEvent.objects.filter(action="workspace.offboarded").count() == 1
    assert (summary.data["disconnected"], summary.data["failed"]) == (2, 0)
    assert not PostTarget.objects.filter(
        post__workspace=workspace, status=PostTarget.Status.QUEUED
    ).exists()
    assert followers_of(owner) == 0


SILENT_BROKER_ENQUEUE = """
import os, socket, sys, time
silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(16)  # connections are accepted by the kernel and never answered
os.environ["REDIS_URL"] = "redis://127.0.0.1:%d/0" % silent.getsockname()[1]
import django
django.setup()
from accounts.tasks import token_revocation_process_task
started = time.monotonic()
try:
    token_revocation_process_task.delay(1)
except Exception as exc:
    print(type(exc).__name__, round(time.monotonic() - started))
"""


def test_an_enqueue_to_a_broker_that_never_answers_gives_up_instead_of_hanging(tmp_path):
    """Without socket timeouts the request that enqueues would wait for ever; the outbox row
    it committed is what still gets the work done (see the sweep tests)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialhub.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    child = subprocess.run(
        [sys.executable, "-c", SILENT_BROKER_ENQUEUE],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=settings.BASE_DIR,
    )

    assert child.stdout.split()[0] == "OperationalError", child.stderr[-2000:]
