"""Webhook deliveries: the outbox written with the change, signed sending to a real
receiver, retries with backoff, giving up, disabling an endpoint, the private-address
guard, one send under concurrent tasks, and the connect/disconnect events end to end."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import requests
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import crypto
from accounts.models import AuditEvent, Platform, WebhookDelivery, WebhookEndpoint
from accounts.services import webhook_urls
from accounts.services.actors import Actor
from accounts.services.disconnect import social_account_disconnect
from accounts.services.webhook_delivery import (
    webhook_deliveries_due,
    webhook_deliveries_purge,
    webhook_delivery_attempt,
    webhook_signature,
)
from accounts.services.webhooks import (
    WebhookEvent,
    webhook_endpoint_enable,
    webhook_event_emit,
)
from accounts.tasks import webhook_deliveries_sweep_task, webhook_delivery_attempt_task
from tests.factories import (
    SocialAccountFactory,
    UserFactory,
    account_with_history,
    personal_workspace,
    shared_workspace,
)
from tests.helpers import account_url, assert_success, bearer_client, connect, run_concurrently
from tests.webhook_receiver import Receiver, endpoint_for, verify_signature

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status
DATA = {"socialAccountId": "sa_00000000-0000-4000-8000-000000000001", "handle": "ann"}


@pytest.fixture
def workspace(user):
    return personal_workspace(user)


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def emit(workspace, event=WebhookEvent.ACCOUNT_CONNECTED, data=DATA) -> int:
    return webhook_event_emit(workspace_id=workspace.pk, event=event, data=data)


def emit_and_send(workspace, django_capture_on_commit_callbacks, **kwargs) -> int:
    """Emit in a transaction of its own, and run what waits for its commit."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        return emit(workspace, **kwargs)


def time_passes(delivery: WebhookDelivery) -> None:
    """Make the delivery's next attempt due now."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def only_delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.get()


# The outbox --------------------------------------------------------------------------------


def test_emit_writes_one_delivery_per_active_subscribed_endpoint(user, workspace):
    # given
    everything, _ = endpoint_for(workspace, "http://127.0.0.1:9/all")
    connected_only, _ = endpoint_for(workspace, "http://127.0.0.1:9/c", ["account.connected"])
    endpoint_for(workspace, "http://127.0.0.1:9/posts", ["post.published", "post.failed"])
    disabled, _ = endpoint_for(workspace, "http://127.0.0.1:9/off")
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(active=False)
    endpoint_for(shared_workspace(user), "http://127.0.0.1:9/other-workspace")

    # when
    queued = emit(workspace)

    # then
    assert queued == 2
    deliveries = WebhookDelivery.objects.all()
    assert {d.endpoint_id for d in deliveries} == {everything.pk, connected_only.pk}
    assert {(d.event, d.status, d.attempts) for d in deliveries} == {
        ("account.connected", "pending", 0)
    }


def test_the_body_is_the_documented_envelope_and_names_its_delivery(workspace):
    # given
    endpoint_for(workspace, "http://127.0.0.1:9/hook")
    when = timezone.now()

    # when
    emit(workspace, data={"at": when, "count": 3})

    # then
    delivery = only_delivery()
    body = json.loads(delivery.body)
    assert list(body) == ["id", "type", "createdAt", "workspaceId", "data"]
    assert body["id"] == delivery.public_id
    assert body["id"].startswith("whd_")
    assert body["type"] == "account.connected"
    assert parse_datetime(body["createdAt"]) == delivery.created_at
    assert body["createdAt"].endswith("Z")
    assert body["workspaceId"] == workspace.public_id
    assert body["data"] == {"at": when.isoformat().replace("+00:00", "Z"), "count": 3}


def test_emit_is_one_statement_without_endpoints_and_two_with_any_number(
    workspace, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert emit(workspace) == 0
    endpoint_for(workspace, "http://127.0.0.1:9/one")
    with django_assert_num_queries(2):
        assert emit(workspace) == 1
    for i in range(4):
        endpoint_for(workspace, f"http://127.0.0.1:9/more-{i}")
    with django_assert_num_queries(2):
        assert emit(workspace) == 5


def test_an_unknown_event_is_refused(workspace):
    with pytest.raises(ValueError):
        emit(workspace, event="account.exploded")


def test_a_rolled_back_change_delivers_nothing(
    workspace, receiver, django_capture_on_commit_callbacks
):
    # given
    endpoint_for(workspace, receiver.url)

    # when
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert emit(workspace) == 1
        raise RuntimeError("the change fails after the event was emitted")

    # then
    assert callbacks == []
    assert not WebhookDelivery.objects.exists()
    assert receiver.received == []


def test_nothing_is_sent_before_commit(workspace, receiver, django_capture_on_commit_callbacks):
    endpoint_for(workspace, receiver.url)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        emit(workspace)

    assert len(callbacks) == 1
    assert receiver.received == []
    assert only_delivery().status == Status.PENDING


# Sending to a receiver written from the documentation -------------------------------------


def test_a_receiver_written_from_the_documentation_accepts_our_delivery(
    workspace, django_capture_on_commit_callbacks
):
    # given
    with Receiver() as receiver:
        _endpoint, secret = endpoint_for(workspace, receiver.url)
        receiver.secret = secret

        # when
        emit_and_send(workspace, django_capture_on_commit_callbacks)

    # then
    [request] = receiver.received
    delivery = only_delivery()
    assert request.answered == 200
    assert request.path == "/hooks/socialhub"
    assert request.body == delivery.body.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("socialhub-webhooks/")
    assert request.headers["X-Socialhub-Event"] == "account.connected"
    assert request.headers["X-Socialhub-Delivery"] == delivery.public_id
    assert abs(int(request.headers["X-Socialhub-Timestamp"]) - time.time()) < 60
    assert request.headers["X-Socialhub-Signature"].startswith("v1=")
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == (
        Status.DELIVERED,
        1,
        200,
    )
    assert delivery.delivered_at is not None
    assert delivery.last_error == ""


def test_the_documented_check_rejects_a_tampered_body_and_an_old_timestamp(
    workspace, django_capture_on_commit_callbacks
):
    # given: a real delivery, captured
    with Receiver() as receiver:
        _endpoint, secret = endpoint_for(workspace, receiver.url)
        emit_and_send(workspace, django_capture_on_commit_callbacks)
    [genuine] = receiver.received
    headers, body = genuine.headers, genuine.body
    stale = int(time.time()) - 600
    restamped = {
        **headers,
        "X-Socialhub-Timestamp": str(stale),
        "X-Socialhub-Signature": webhook_signature(
            secret=secret, timestamp=stale, body=body.decode()
        ),
    }

    # when / then: replayed to a verifying receiver
    with Receiver(secret=secret) as verifying:
        for sent_headers, sent_body in [
            (headers, body),
            (headers, body.replace(b'"ann"', b'"eve"')),
            (restamped, body),
            ({**headers, "X-Socialhub-Signature": "v1=" + "0" * 64}, body),
            ({k: v for k, v in headers.items() if k != "X-Socialhub-Signature"}, body),
        ]:
            requests.post(verifying.url, data=sent_body, headers=sent_headers, timeout=5)
    assert [r.answered for r in verifying.received] == [200, 401, 401, 401, 401]
    assert verify_signature(secret, headers, body)
    assert not verify_signature("whsec_someone-else", headers, body)


def test_every_attempt_sends_the_same_bytes_with_a_fresh_signature(
    workspace, django_capture_on_commit_callbacks
):
    with Receiver(answers=[500, 200]) as receiver:
        _endpoint, secret = endpoint_for(workspace, receiver.url)
        emit_and_send(workspace, django_capture_on_commit_callbacks)
        time_passes(only_delivery())
        webhook_deliveries_sweep_task.delay()

    first, second = receiver.received
    assert first.body == second.body
    assert first.headers["X-Socialhub-Delivery"] == second.headers["X-Socialhub-Delivery"]
    assert verify_signature(secret, first.headers, first.body)
    assert verify_signature(secret, second.headers, second.body)


# Retries, giving up, disabling --------------------------------------------------------------


def test_a_failing_receiver_is_retried_with_growing_backoff_until_it_answers(
    workspace, django_capture_on_commit_callbacks
):
    with Receiver(answers=[500, 503, 200]) as receiver:
        endpoint, _ = endpoint_for(workspace, receiver.url)
        # first attempt, right after commit: 500
        started = timezone.now()
        emit_and_send(workspace, django_capture_on_commit_callbacks)
        delivery = only_delivery()
        assert (delivery.status, delivery.attempts, delivery.last_http_status) == (
            Status.PENDING,
            1,
            500,
        )
        assert delivery.last_error == "HTTP 500."
        assert started + dt.timedelta(seconds=30) <= delivery.next_attempt_at
        assert delivery.next_attempt_at <= timezone.now() + dt.timedelta(seconds=30)

        # not due yet: the sweep leaves it alone
        assert webhook_deliveries_sweep_task.delay().get() == 0
        assert len(receiver.received) == 1

        # second attempt: 503, the wait doubles
        time_passes(delivery)
        before = timezone.now()
        assert webhook_deliveries_sweep_task.delay().get() == 1
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.last_http_status) == (2, 503)
        assert delivery.next_attempt_at >= before + dt.timedelta(seconds=60)

        # third attempt: delivered
        time_passes(delivery)
        webhook_deliveries_sweep_task.delay()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == (
        Status.DELIVERED,
        3,
        200,
    )
    assert [r.answered for r in receiver.received] == [500, 503, 200]
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


@pytest.mark.parametrize(
    ("attempts", "expected"), [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (20, 3600)]
)
def test_backoff_doubles_from_30_seconds_up_to_an_hour(
    workspace, receiver, settings, attempts, expected
):
    settings.WEBHOOK_MAX_ATTEMPTS = 50
    endpoint_for(workspace, receiver.url)
    emit(workspace)
    receiver.answers = [500]
    WebhookDelivery.objects.update(attempts=attempts - 1)

    outcome = webhook_delivery_attempt(delivery_id=only_delivery().pk)

    assert (outcome.status, outcome.retry_in) == ("retry", expected)


def test_a_receivers_retry_after_is_honoured(workspace):
    with Receiver(answers=[429]) as limited:
        limited.headers = {"Retry-After": "900"}
        endpoint_for(workspace, limited.url)
        emit(workspace)

        outcome = webhook_delivery_attempt(delivery_id=only_delivery().pk)

    assert (outcome.status, outcome.retry_in) == ("retry", 900)
    delivery = only_delivery()
    assert delivery.last_http_status == 429
    assert delivery.next_attempt_at >= timezone.now() + dt.timedelta(seconds=890)


def test_when_attempts_run_out_the_delivery_fails_and_counts_against_the_endpoint(
    workspace, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    with Receiver(answers=[500]) as receiver:
        endpoint, _ = endpoint_for(workspace, receiver.url)
        emit_and_send(workspace, django_capture_on_commit_callbacks)
        for _ in range(4):
            time_passes(only_delivery())
            webhook_deliveries_sweep_task.delay()

    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == (
        Status.FAILED,
        3,
        500,
    )
    assert len(receiver.received) == 3
    assert webhook_deliveries_due() == []
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures) == (True, 1)


def test_consecutive_failed_deliveries_disable_the_endpoint_and_what_it_had_pending(
    user, workspace, settings, django_capture_on_commit_callbacks
):
    # given: one attempt per delivery, disabled at the third failed delivery in a row
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    with Receiver(answers=[500]) as receiver:
        endpoint, _ = endpoint_for(workspace, receiver.url)
        emit_and_send(workspace, django_capture_on_commit_callbacks)
        emit_and_send(workspace, django_capture_on_commit_callbacks)
        endpoint.refresh_from_db()
        assert (endpoint.active, endpoint.consecutive_failures) == (True, 2)
        emit(workspace)  # still waiting for its commit when the third delivery fails
        waiting = WebhookDelivery.objects.filter(status=Status.PENDING).get()

        # when
        emit_and_send(workspace, django_capture_on_commit_callbacks)

        # then
        endpoint.refresh_from_db()
        assert endpoint.active is False
        assert endpoint.consecutive_failures == 3
        assert endpoint.disabled_at is not None
        assert "3 deliveries in a row failed" in endpoint.disabled_reason
        waiting.refresh_from_db()
        assert waiting.status == Status.FAILED
        assert waiting.attempts == 0
        assert "disabled" in waiting.last_error
        [event] = AuditEvent.objects.filter(action="webhook.disabled")
        assert (event.actor_type, event.actor_id) == ("system", "webhook_delivery")
        assert event.subject_ids == [endpoint.public_id]
        assert event.workspace_id == workspace.public_id

        # a disabled endpoint is sent nothing, not even what was queued before
        assert webhook_delivery_attempt(delivery_id=waiting.pk).status == "not_due"
        assert emit(workspace) == 0
        assert len(receiver.received) == 3

        # re-enabled, it starts again from a clean count
        receiver.answers = [200]
        webhook_endpoint_enable(endpoint=endpoint, actor=Actor.for_user(user))
        endpoint.refresh_from_db()
        assert (endpoint.active, endpoint.consecutive_failures) == (True, 0)
        assert endpoint.disabled_at is None
        assert emit_and_send(workspace, django_capture_on_commit_callbacks) == 1
    assert receiver.received[-1].answered == 200


def test_a_delivery_in_between_resets_the_count_of_failures(
    workspace, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    with Receiver(answers=[500, 200, 500]) as receiver:
        endpoint, _ = endpoint_for(workspace, receiver.url)
        for _ in range(3):
            emit_and_send(workspace, django_capture_on_commit_callbacks)

    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures) == (True, 1)
    assert [r.answered for r in receiver.received] == [500, 200, 500]


def test_a_delivery_whose_endpoint_was_disabled_meanwhile_is_not_sent(workspace, receiver):
    endpoint, _ = endpoint_for(workspace, receiver.url)
    emit(workspace)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)

    outcome = webhook_delivery_attempt(delivery_id=only_delivery().pk)

    assert outcome.status == "not_due"
    assert receiver.received == []
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 0)
    assert delivery.last_error == "Not sent: the webhook is disabled."


def test_deleting_an_endpoint_takes_its_deliveries_and_their_tasks_find_nothing(
    workspace, receiver
):
    endpoint, _ = endpoint_for(workspace, receiver.url)
    emit(workspace)
    delivery_id = only_delivery().pk

    endpoint.delete()

    assert not WebhookDelivery.objects.exists()
    assert webhook_delivery_attempt(delivery_id=delivery_id).status == "not_due"
    assert receiver.received == []


def test_a_secret_that_no_longer_decrypts_fails_the_delivery_unsent(workspace, receiver, settings):
    endpoint_for(workspace, receiver.url)
    emit(workspace)
    settings.TOKEN_ENCRYPTION_KEYS = [crypto.Fernet.generate_key().decode()]

    webhook_delivery_attempt(delivery_id=only_delivery().pk)

    assert receiver.received == []
    delivery = only_delivery()
    assert delivery.status == Status.FAILED
    assert "secret" in delivery.last_error


# What the transport does and does not do ---------------------------------------------------


def test_redirects_are_not_followed(workspace):
    with Receiver() as elsewhere, Receiver(answers=[302]) as redirecting:
        redirecting.location = elsewhere.url
        endpoint_for(workspace, redirecting.url)
        emit(workspace)

        outcome = webhook_delivery_attempt(delivery_id=only_delivery().pk)

    assert outcome.status == "retry"
    assert len(redirecting.received) == 1
    assert elsewhere.received == []
    delivery = only_delivery()
    assert delivery.last_http_status == 302
    assert "redirects are not followed" in delivery.last_error


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(workspace, settings):
    settings.WEBHOOK_TIMEOUT = 0.2
    with Receiver(delay=1.0) as slow:
        endpoint_for(workspace, slow.url)
        emit(workspace)

        outcome = webhook_delivery_attempt(delivery_id=only_delivery().pk)

    assert outcome.status == "retry"
    delivery = only_delivery()
    assert delivery.last_http_status is None
    assert delivery.last_error == "No answer within 0.2 s."


def test_a_refused_connection_is_a_failed_attempt(workspace):
    with Receiver() as gone:
        url = gone.url
    endpoint_for(workspace, url)
    emit(workspace)

    outcome = webhook_delivery_attempt(delivery_id=only_delivery().pk)

    assert outcome.status == "retry"
    assert only_delivery().last_error.startswith("Could not connect:")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.0.0.7", "169.254.169.254", "[::1]", "0.0.0.0"]
)
def test_private_addresses_are_refused_at_delivery_when_not_allowed(
    workspace, receiver, settings, host
):
    # given: an endpoint registered while private addresses were allowed
    endpoint, _ = endpoint_for(workspace, f"https://{host}:{receiver.port}/hook")
    emit(workspace)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    # when
    outcome = webhook_delivery_attempt(delivery_id=only_delivery().pk)

    # then: failed at once (retrying cannot help), nothing sent
    assert outcome.status == "failed"
    assert receiver.received == []
    delivery = only_delivery()
    assert delivery.status == Status.FAILED
    assert delivery.last_error.startswith("Not sent:")
    assert "public addresses" in delivery.last_error
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1


def test_plain_http_is_refused_at_delivery_when_private_urls_are_not_allowed(
    workspace, receiver, settings
):
    endpoint_for(workspace, receiver.url)
    emit(workspace)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    webhook_delivery_attempt(delivery_id=only_delivery().pk)

    assert receiver.received == []
    assert only_delivery().last_error == "Not sent: Must be an https URL."


def test_a_host_that_re_resolves_to_a_private_address_is_caught_at_connect(
    workspace, receiver, settings, monkeypatch
):
    """DNS rebinding: the check before sending sees a public address, the connection then
    reaches a private one. The address really connected to is checked before any byte of
    the request is written."""
    endpoint_for(workspace, f"https://localhost:{receiver.port}/hook")
    emit(workspace)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr(webhook_urls, "_resolve", lambda host, port: ["93.184.216.34"])

    outcome = webhook_delivery_attempt(delivery_id=only_delivery().pk)

    assert outcome.status == "failed"
    assert receiver.received == []
    assert "non-public address" in only_delivery().last_error
    assert "nothing was sent" in only_delivery().last_error


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("not an address", False),
    ],
)
def test_only_globally_routable_unicast_addresses_are_public(address, public):
    assert webhook_urls.address_is_public(address) is public


# Exactly once while a lease is held --------------------------------------------------------


def test_a_redelivered_task_sends_nothing_once_delivered(workspace, receiver):
    endpoint_for(workspace, receiver.url)
    emit(workspace)
    delivery_id = str(only_delivery().pk)

    assert webhook_delivery_attempt_task.delay(delivery_id).get() == "delivered"
    assert webhook_delivery_attempt_task.delay(delivery_id).get() == "not_due"

    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_task_run_twice_at_once_sends_once():
    # given: a receiver slow enough for the two runs to overlap
    workspace = personal_workspace(UserFactory())
    with Receiver(delay=0.5) as receiver:
        endpoint_for(workspace, receiver.url)
        with transaction.atomic():
            emit(workspace)  # its own task runs on commit (eagerly): let it, then reset
        WebhookDelivery.objects.update(status=Status.PENDING, next_attempt_at=timezone.now())
        sent_before = len(receiver.received)
        delivery_id = str(only_delivery().pk)

        # when
        outcomes = run_concurrently(
            lambda: webhook_delivery_attempt_task.delay(delivery_id).result,
            lambda: webhook_delivery_attempt_task.delay(delivery_id).result,
        )

    # then
    assert sorted(outcomes) == ["delivered", "not_due"]
    assert len(receiver.received) - sent_before == 1
    assert only_delivery().status == Status.DELIVERED


# The sweep ---------------------------------------------------------------------------------


def test_the_sweep_finds_due_pending_deliveries_only_and_is_bounded(workspace):
    endpoint_for(workspace, "http://127.0.0.1:9/hook")
    for _ in range(4):
        emit(workspace)
    due, later, delivered, failed = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + dt.timedelta(minutes=5)
    )
    WebhookDelivery.objects.filter(pk=delivered.pk).update(status=Status.DELIVERED)
    WebhookDelivery.objects.filter(pk=failed.pk).update(status=Status.FAILED)

    assert webhook_deliveries_due() == [due.pk]
    assert webhook_deliveries_due(limit=0) == []


def test_finished_deliveries_are_purged_after_the_retention_period_pending_ones_never(
    workspace, settings
):
    settings.WEBHOOK_DELIVERY_RETENTION = dt.timedelta(days=30)
    endpoint_for(workspace, "http://127.0.0.1:9/hook")
    for _ in range(4):
        emit(workspace)
    old_delivered, old_failed, old_pending, recent = WebhookDelivery.objects.order_by("pk")
    long_ago = timezone.now() - dt.timedelta(days=31)
    WebhookDelivery.objects.filter(pk__in=[old_delivered.pk, old_failed.pk, old_pending.pk]).update(
        created_at=long_ago
    )
    WebhookDelivery.objects.filter(pk=old_delivered.pk).update(status=Status.DELIVERED)
    WebhookDelivery.objects.filter(pk__in=[old_failed.pk, recent.pk]).update(status=Status.FAILED)

    assert webhook_deliveries_purge() == 2

    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}


# Events end to end -------------------------------------------------------------------------


def sent_events(receiver) -> list[dict]:
    return [json.loads(request.body) for request in receiver.received]


def test_connecting_and_reconnecting_an_account_is_announced(
    user, user_client, workspace, receiver, django_capture_on_commit_callbacks
):
    endpoint_for(workspace, receiver.url, ["account.connected"])

    with django_capture_on_commit_callbacks(execute=True):
        first = assert_success(connect(user_client, "x", handle="hooked", followers=10))
    with django_capture_on_commit_callbacks(execute=True):
        again = assert_success(connect(user_client, "x", handle="hooked", followers=10))

    connected, reconnected = sent_events(receiver)
    assert connected["type"] == "account.connected"
    assert connected["workspaceId"] == workspace.public_id
    assert connected["data"] == {
        "socialAccountId": first["id"],
        "platform": "x",
        "handle": "hooked",
        "userId": user.public_id,
        "reconnected": False,
    }
    assert reconnected["data"] == {**connected["data"], "reconnected": True}
    assert again["id"] == first["id"]
    assert receiver.received[0].headers["X-Socialhub-Event"] == "account.connected"


def test_a_disconnect_through_the_api_is_announced_after_commit(
    user, workspace, receiver, django_capture_on_commit_callbacks
):
    # given
    account = account_with_history(
        user, Platform.YOUTUBE, queued=2, published=1, snapshots=3, inbox=4
    )
    endpoint_for(workspace, receiver.url, ["account.disconnected"])

    # when
    with django_capture_on_commit_callbacks(execute=False) as waiting:
        report = assert_success(bearer_client(user).delete(account_url(account)))
    assert receiver.received == []  # nothing before commit
    for callback in waiting:
        callback()

    # then
    [event] = sent_events(receiver)
    assert event["type"] == "account.disconnected"
    assert event["workspaceId"] == workspace.public_id
    assert event["data"] == {
        "socialAccountId": account.public_id,
        "platform": "youtube",
        "handle": account.platform_username,
        "userId": user.public_id,
        "reason": "revoked_by_user",
        "canceledScheduledPosts": 2,
        "purged": {"metrics": 1, "metricsSnapshots": 3, "inboxItems": 4},
        "disconnectedAt": report["disconnectedAt"],
    }
    assert only_delivery().status == Status.DELIVERED


def test_a_dry_run_disconnect_announces_nothing(user, workspace, receiver):
    account = SocialAccountFactory(user=user)
    endpoint_for(workspace, receiver.url)

    social_account_disconnect(
        account=account, actor=Actor.for_user(user), reason="revoked_by_user", dry_run=True
    )

    assert not WebhookDelivery.objects.exists()


def test_with_a_subscribed_endpoint_the_disconnect_still_costs_the_same_whatever_the_history(
    user, workspace, django_assert_num_queries
):
    endpoint_for(workspace, "http://127.0.0.1:9/hook")
    small = account_with_history(user, Platform.X, queued=1, published=1, snapshots=1, inbox=1)
    large = account_with_history(
        user, Platform.YOUTUBE, queued=100, published=20, snapshots=500, inbox=100
    )
    actor = Actor.for_user(user)

    with CaptureQueriesContext(connection) as small_run:
        social_account_disconnect(account=small, actor=actor, reason="revoked_by_user")
    with django_assert_num_queries(len(small_run.captured_queries)):
        social_account_disconnect(account=large, actor=actor, reason="revoked_by_user")

    assert WebhookDelivery.objects.count() == 2
