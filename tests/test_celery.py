"""Background work on a real Celery worker process with a Redis broker (not eager mode)."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.models import SandboxCredential, TokenRevocation
from accounts.services.actors import Actor
from accounts.services.disconnect import social_account_disconnect
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
