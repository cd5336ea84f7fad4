"""The shared API plumbing: envelope, error mapping, correlation id, public ids, rate limits."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory
from django.urls import path
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

import socialhub.urls
from accounts.models import AuditEvent, CreatorProfile, OAuthState, SocialAccount, User, Workspace
from accounts.services import disconnect as disconnect_module
from scheduling.models import PostTarget, ScheduledPost
from socialhub.api.correlation import CorrelationIdLogFilter
from socialhub.api.errors import ApplicationError, ErrorCode
from socialhub.api.ids import parse_public_id
from socialhub.api.ratelimit import rate_period_seconds
from tests.factories import (
    DEFAULT_PASSWORD,
    MetricsSnapshotFactory,
    PostTargetFactory,
    SocialAccountFactory,
    UserFactory,
)
from tests.helpers import (
    PROFILE_URL,
    account_url,
    assert_error,
    assert_success,
    bearer_client,
    database_state,
)

LOGIN_URL = "/api/v1/auth/login"
DISCONNECT_URL = "/api/v1/creators/social/disconnect"
REGISTER_URL = "/api/v1/auth/register"
SECRET_FAILURE_TEXT = "kaboom-internal-detail-7f3a"


def _crashing_plain_view(request):
    raise RuntimeError(SECRET_FAILURE_TEXT)


# The real URLconf and error handlers, plus one plain (non-DRF) Django view that crashes.
urlpatterns = [path("api/v1/_crash", _crashing_plain_view), *socialhub.urls.urlpatterns]
handler400 = socialhub.urls.handler400
handler403 = socialhub.urls.handler403
handler404 = socialhub.urls.handler404
handler500 = socialhub.urls.handler500


# Success envelope ------------------------------------------------------------------------


def test_success_wraps_payload_in_data(user, user_client):
    response = user_client.get(PROFILE_URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"success", "data"}
    assert body["success"] is True
    assert body["data"]["email"] == user.email
    assert body["data"]["totalFollowers"] == 0


def test_success_without_payload_is_bare_success(user, api_client):
    login = api_client.post(
        LOGIN_URL, {"email": user.email, "password": "correct horse battery staple"}, format="json"
    )
    refresh = login.json()["data"]["refreshToken"]

    response = api_client.post("/api/v1/auth/logout", {"refreshToken": refresh}, format="json")

    assert response.status_code == 200
    assert response.json() == {"success": True}


# Error envelope for every failure ----------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "url", ["/api/v1/no-such-thing", "/api/v1/creators/nope/", "/api/v2/creators/social", "/api/"]
)
def test_unknown_api_path_is_404_envelope(settings, api_client, url, debug):
    settings.DEBUG = debug

    response = api_client.get(url)

    error = assert_error(response, 404, "NOT_FOUND")
    assert error["i18nKey"] == "common.not_found"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_api_path_is_404_envelope_for_writes_without_csrf_cookie(db, method):
    """A real API client sends no CSRF cookie; it must still get the envelope, not HTML."""
    client = APIClient(enforce_csrf_checks=True)

    response = getattr(client, method)("/api/v1/no-such-thing", {"a": 1}, format="json")

    assert_error(response, 404, "NOT_FOUND")


def test_drf_views_need_no_csrf_cookie(db):
    client = APIClient(enforce_csrf_checks=True)

    response = client.post(REGISTER_URL, {}, format="json")

    assert_error(response, 400, "VALIDATION")


def test_wrong_method_is_405_envelope(api_client):
    response = api_client.get(LOGIN_URL)

    assert_error(response, 405, "METHOD_NOT_ALLOWED")


def test_malformed_json_is_400_naming_body(api_client):
    response = api_client.post(
        LOGIN_URL, data='{"email": "a@b.c", ', content_type="application/json"
    )

    error = assert_error(response, 400, "VALIDATION")
    assert error["i18nKey"] == "common.malformed_json"
    assert len(error["details"]) == 1
    assert error["details"][0]["field"] == "body"
    assert error["details"][0]["message"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz"],
)
def test_non_json_body_is_415_envelope(api_client, content_type):
    response = api_client.post(LOGIN_URL, data="email=a@b.c&password=x", content_type=content_type)

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_non_json_accept_is_406_envelope(user_client):
    response = user_client.get(PROFILE_URL, HTTP_ACCEPT="text/html")

    assert_error(response, 406, "NOT_ACCEPTABLE")


def test_missing_credentials_is_401_envelope(api_client):
    response = api_client.get(PROFILE_URL)

    error = assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert error["i18nKey"] == "auth.unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unexpected_exception_in_drf_view_is_500_envelope_without_traceback(
    user, monkeypatch, caplog
):
    def explode(**kwargs):
        raise RuntimeError(SECRET_FAILURE_TEXT)

    monkeypatch.setattr("accounts.selectors.creator_profile_get", explode)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)

    with caplog.at_level(logging.ERROR, logger="socialhub.api"):
        response = client.get(PROFILE_URL)

    error = assert_error(response, 500, "INTERNAL")
    assert error["i18nKey"] == "common.internal"
    text = response.content.decode()
    assert SECRET_FAILURE_TEXT not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    # The detail goes to the log instead.
    assert any(SECRET_FAILURE_TEXT in (r.exc_text or str(r.exc_info)) for r in caplog.records)


@pytest.mark.urls(__name__)
def test_unexpected_exception_in_plain_django_view_is_500_envelope(db):
    client = APIClient(raise_request_exception=False)

    response = client.get("/api/v1/_crash", HTTP_X_CORRELATION_ID="crash-corr-1")

    error = assert_error(response, 500, "INTERNAL")
    assert error["correlationId"] == "crash-corr-1"
    assert SECRET_FAILURE_TEXT not in response.content.decode()


def test_database_error_mid_request_is_500_and_changes_nothing(db, monkeypatch, caplog):
    """The audit write fails with a real SQL error after the user row was inserted."""

    def broken_audit(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM socialhub_no_such_table")

    monkeypatch.setattr("accounts.services.users.audit_event_record", broken_audit)
    workspaces_before = Workspace.objects.count()
    client = APIClient(raise_request_exception=False)

    response = client.post(
        REGISTER_URL,
        {"email": "dberror@example.com", "password": "a long enough passphrase", "name": "Db"},
        format="json",
    )

    error = assert_error(response, 500, "INTERNAL")
    assert "socialhub_no_such_table" not in response.content.decode()
    assert "safe to retry" in error["message"]
    assert not User.objects.filter(email="dberror@example.com").exists()
    assert Workspace.objects.count() == workspaces_before
    failure = next(
        r for r in caplog.records if r.getMessage() == "Database failure while serving the request"
    )
    assert "socialhub_no_such_table" in str(failure.exc_info[1])


def wsgi_request(method: str, path: str, body: dict, **headers):
    """One request through Django's WSGI handler, as a WSGI server's worker thread serves
    it: ``request_started`` and ``request_finished`` run ``close_old_connections`` (the
    test client leaves that out), so a connection broken in one request is replaced in the
    next. The response has ``json()`` like the test client's."""
    environ = (
        RequestFactory()
        .generic(method, path, json.dumps(body), content_type="application/json", **headers)
        .environ
    )
    response = WSGIHandler()(environ, lambda status, response_headers, exc_info=None: None)
    try:
        content = b"".join(response)
    finally:
        response.close()
    response.json = lambda: json.loads(content)
    return response


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_killed_mid_transaction_is_500_and_the_next_request_works(
    monkeypatch, caplog
):
    """The request's PostgreSQL backend is terminated (``pg_terminate_backend``) while its
    disconnect has written everything but not committed."""
    # given: an account with a queued post and history; the disconnect pauses after its
    # audit write, on the request's own connection
    user = UserFactory()
    account = SocialAccountFactory(user=user, followers=1200)
    SocialAccountFactory(user=user, platform="x", followers=800)
    queued = PostTargetFactory(social_account=account)
    MetricsSnapshotFactory.create_batch(3, social_account=account)
    before = database_state()
    paused, resume, first_answered, checked = (threading.Event() for _ in range(4))
    backend: list[int] = []
    real_audit_event_record = disconnect_module.audit_event_record

    def audit_then_pause(**kwargs):
        event = real_audit_event_record(**kwargs)
        if not paused.is_set():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend.append(cursor.fetchone()[0])
            paused.set()
            assert resume.wait(timeout=10)
        return event

    monkeypatch.setattr(disconnect_module, "audit_event_record", audit_then_pause)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(user).access_token}"}
    body = {"platform": "instagram"}
    responses = []

    def one_server_thread():
        try:
            responses.append(
                wsgi_request(
                    "POST", DISCONNECT_URL, body, HTTP_X_CORRELATION_ID="killed-1", **headers
                )
            )
            first_answered.set()
            assert checked.wait(timeout=10)
            responses.append(wsgi_request("POST", DISCONNECT_URL, body, **headers))
        finally:
            connection.close()

    server = threading.Thread(target=one_server_thread)
    server.start()
    try:
        # when: the backend is killed from another connection while the request waits
        assert paused.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", backend)
            assert cursor.fetchone()[0] is True
            for _ in range(1000):  # gone once PostgreSQL has reaped it
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", backend)
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("the backend was not terminated")
        resume.set()
        assert first_answered.wait(timeout=10)

        # then: the client gets the 500 envelope with its correlation id, and no detail
        error = assert_error(responses[0], 500, "INTERNAL")
        assert error["correlationId"] == "killed-1"
        text = json.dumps(responses[0].json())
        assert "Traceback" not in text
        assert "terminat" not in text.lower()
        assert "safe to retry" in error["message"]
        # and nothing was half-written
        assert database_state() == before
        queued.refresh_from_db()
        assert (queued.status, queued.social_account_id) == (PostTarget.Status.QUEUED, account.pk)
        assert any(
            r.getMessage() == "Database failure while serving the request" for r in caplog.records
        )
    finally:
        checked.set()
        resume.set()
        server.join(timeout=20)

    # and the same thread's next request gets a new connection and does the disconnect
    assert not server.is_alive()
    assert assert_success(responses[1]) is None
    assert not SocialAccount.objects.filter(pk=account.pk).exists()
    assert AuditEvent.objects.filter(action="social_account.disconnected").count() == 1
    assert CreatorProfile.objects.get(user=user).total_followers == 800


def test_application_error_details_and_vars_reach_the_envelope(user, api_client):
    """i18nVars and details set by a service are rendered, not dropped."""
    response = api_client.post(LOGIN_URL, {"email": user.email, "password": "nope"}, format="json")

    error = assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert error["i18nVars"] == {"field": "email"}


# Correlation id ----------------------------------------------------------------------------


def test_generated_correlation_id_on_success_and_error(user_client, api_client):
    ok = user_client.get(PROFILE_URL)
    failed = api_client.get(PROFILE_URL)

    for response in (ok, failed):
        assert uuid.UUID(response["X-Correlation-ID"]).version == 4
    assert ok["X-Correlation-ID"] != failed["X-Correlation-ID"]
    assert failed.json()["error"]["correlationId"] == failed["X-Correlation-ID"]


@pytest.mark.parametrize(
    "header", ["HTTP_X_CORRELATION_ID", "HTTP_X_REQUEST_ID"], ids=["correlation", "request"]
)
@pytest.mark.parametrize(
    "value", ["abc-123", "9f1c2b7e-6a1d-4c8b-9e1f-0a2b3c4d5e6f", "svc.gw:req_42", "a" * 128]
)
def test_sane_incoming_correlation_id_is_echoed(api_client, header, value):
    response = api_client.get(PROFILE_URL, **{header: value})

    assert response["X-Correlation-ID"] == value
    assert response.json()["error"]["correlationId"] == value


def test_correlation_id_header_wins_over_request_id(api_client):
    response = api_client.get(
        PROFILE_URL, HTTP_X_CORRELATION_ID="from-correlation", HTTP_X_REQUEST_ID="from-request"
    )

    assert response["X-Correlation-ID"] == "from-correlation"


def test_insane_correlation_id_falls_back_to_sane_request_id(api_client):
    response = api_client.get(
        PROFILE_URL, HTTP_X_CORRELATION_ID="has space", HTTP_X_REQUEST_ID="req-77"
    )

    assert response["X-Correlation-ID"] == "req-77"


@pytest.mark.parametrize(
    "value",
    [
        "a" * 129,
        "has space",
        "abc\r\nSet-Cookie: session=stolen",
        "abc\nX-Injected: 1",
        "abc\n",
        "abc\r\n",
        "caf\u00e9-id",
        "\u0661\u0662\u0663",
        "-leading-dash",
        "",
        "<script>",
    ],
    ids=[
        "too-long",
        "space",
        "crlf-injection",
        "lf-injection",
        "trailing-lf",
        "trailing-crlf",
        "non-ascii",
        "non-ascii-digits",
        "leading-dash",
        "empty",
        "markup",
    ],
)
@pytest.mark.parametrize("header", ["HTTP_X_CORRELATION_ID", "HTTP_X_REQUEST_ID"])
def test_insane_incoming_correlation_id_is_replaced(user_client, header, value):
    response = user_client.get(PROFILE_URL, **{header: value})

    assert response.status_code == 200
    generated = response["X-Correlation-ID"]
    assert uuid.UUID(generated).version == 4
    assert "Set-Cookie" not in response
    assert "X-Injected" not in response


def test_correlation_id_lands_in_audit_event(db, api_client):
    response = api_client.post(
        REGISTER_URL,
        {"email": "audited@example.com", "password": "a long enough passphrase", "name": "Au"},
        format="json",
        HTTP_X_CORRELATION_ID="signup-corr-42",
    )

    assert response.status_code == 201
    event = AuditEvent.objects.get(action="user.registered", actor_id=response.json()["data"]["id"])
    assert event.correlation_id == "signup-corr-42"


def test_generated_correlation_id_lands_in_audit_event(db, api_client):
    response = api_client.post(
        REGISTER_URL,
        {"email": "audited2@example.com", "password": "a long enough passphrase", "name": "Au"},
        format="json",
    )

    event = AuditEvent.objects.get(action="user.registered", actor_id=response.json()["data"]["id"])
    assert event.correlation_id == response["X-Correlation-ID"]


def test_correlation_id_lands_in_log_records(user, monkeypatch, caplog):
    def explode(**kwargs):
        logging.getLogger("accounts.selectors").warning("about to fail")
        raise RuntimeError(SECRET_FAILURE_TEXT)

    monkeypatch.setattr("accounts.selectors.creator_profile_get", explode)
    caplog.handler.addFilter(CorrelationIdLogFilter())
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)

    with caplog.at_level(logging.INFO):
        client.get(PROFILE_URL, HTTP_X_CORRELATION_ID="log-corr-7")
    logging.getLogger("socialhub.api").warning("outside any request")

    during = [r for r in caplog.records if r.name in {"accounts.selectors", "socialhub.api"}]
    assert {r.getMessage() for r in during} >= {
        "about to fail",
        "Unexpected failure while serving the request",
        "outside any request",
    }
    for record in during:
        expected = "-" if record.getMessage() == "outside any request" else "log-corr-7"
        assert record.correlation_id == expected


def test_configured_log_handlers_carry_the_correlation_filter():
    """Production logging (settings.LOGGING) stamps every record, not only the test's."""
    root_handlers = logging.getLogger().handlers
    assert any(
        isinstance(log_filter, CorrelationIdLogFilter)
        for handler in root_handlers
        for log_filter in handler.filters
    )


# parse_public_id ---------------------------------------------------------------------------

VALID_UUID = uuid.UUID("3f2b8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a7b")


def test_parse_public_id_returns_the_uuid():
    assert parse_public_id("sa", f"sa_{VALID_UUID}") == VALID_UUID


@pytest.mark.parametrize(
    "value",
    [
        f"ws_{VALID_UUID}",
        f"sa{VALID_UUID}",
        f"SA_{VALID_UUID}",
        f"sa_{str(VALID_UUID).upper()}",
        f"sa_{{{VALID_UUID}}}",
        f"sa_{VALID_UUID.hex}",
        f"sa_urn:uuid:{VALID_UUID}",
        f"sa_{VALID_UUID} ",
        f" sa_{VALID_UUID}",
        f"sa_{VALID_UUID}\n",
        "sa_3f2b8c1e-9d4a-4b6e-8f1a",
        "sa_not-a-uuid",
        "sa_",
        "",
        str(VALID_UUID),
        None,
        42,
        VALID_UUID,
        ["sa_" + str(VALID_UUID)],
        {"id": f"sa_{VALID_UUID}"},
    ],
    ids=[
        "wrong-prefix",
        "no-underscore",
        "uppercase-prefix",
        "uppercase-uuid",
        "braced",
        "hex-without-dashes",
        "urn",
        "trailing-space",
        "leading-space",
        "trailing-newline",
        "short",
        "not-a-uuid",
        "empty-uuid",
        "empty",
        "bare-uuid",
        "none",
        "int",
        "uuid-object",
        "list",
        "dict",
    ],
)
def test_parse_public_id_rejects_malformed_values(value):
    with pytest.raises(ApplicationError) as raised:
        parse_public_id("sa", value, field="socialAccountId")

    error = raised.value
    assert error.code is ErrorCode.VALIDATION
    assert error.status == 400
    assert error.details == [{"field": "socialAccountId", "message": error.message}]
    assert "sa_<uuid>" in error.message


# Rate-limit glue ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "seconds"),
    [("30/h", 3600), ("100/5m", 300), ("5/s", 1), ("1/d", 86400), ("10/15s", 15), ("3/M", 60)],
)
def test_rate_period_seconds(rate, seconds):
    assert rate_period_seconds(rate) == seconds


def test_rate_limit_fails_closed_with_503_when_cache_is_down(db, cache_down, api_client):
    response = api_client.post(
        REGISTER_URL,
        {"email": "nocache@example.com", "password": "a long enough passphrase", "name": "Nc"},
        format="json",
    )

    assert_error(response, 503, "UNAVAILABLE")
    assert int(response["Retry-After"]) >= 1
    assert not User.objects.filter(email="nocache@example.com").exists()


def _rate_limited_request(group: str, user, account) -> tuple[APIClient, str, str, dict]:
    """(client, method, path, body) of an endpoint counted under each rate-limit group."""
    signed_in = bearer_client(user)
    later = (timezone.now() + dt.timedelta(days=1)).isoformat()
    return {
        "auth.register": (
            APIClient(),
            "post",
            REGISTER_URL,
            {"email": "nocache@example.com", "password": "a long enough passphrase", "name": "N"},
        ),
        "auth.login": (
            APIClient(),
            "post",
            LOGIN_URL,
            {"email": user.email, "password": DEFAULT_PASSWORD},
        ),
        "auth.refresh": (
            APIClient(),
            "post",
            "/api/v1/auth/refresh",
            {"refreshToken": str(RefreshToken.for_user(user))},
        ),
        "creator.social.connect": (
            signed_in,
            "post",
            "/api/v1/creators/social/connect/start",
            {"platform": "x", "redirectUri": "https://app.example.com/callback"},
        ),
        "creator.social.disconnect": (
            signed_in,
            "post",
            "/api/v1/creators/social/disconnect",
            {"platform": account.platform},
        ),
        "partner.social.write": (signed_in, "delete", account_url(account), {}),
        "workspace.write": (signed_in, "post", "/api/v1/workspaces", {"name": "Agency"}),
        "posts.write": (
            signed_in,
            "post",
            "/api/v1/scheduled-posts",
            {"text": "Hi", "scheduledAt": later, "socialAccountIds": [account.public_id]},
        ),
    }[group]


def _everything_a_write_may_touch() -> dict:
    return {
        **database_state(),
        "users": set(User.objects.values_list("id", flat=True)),
        "workspaces": set(Workspace.objects.values_list("id", flat=True)),
        "oauth_states": OAuthState.objects.count(),
        "posts_all": ScheduledPost.objects.count(),
        "refresh_tokens": OutstandingToken.objects.count(),
    }


@pytest.mark.parametrize("group", sorted(settings.RATELIMITS))  # a new group fails here
def test_every_rate_limited_endpoint_is_503_and_changes_nothing_when_the_cache_is_down(
    user, account, cache_down, group
):
    # given
    client, method, path, body = _rate_limited_request(group, user, account)
    before = _everything_a_write_may_touch()

    # when
    response = getattr(client, method)(path, body, format="json")

    # then: refused in the envelope, with a time to come back, and nothing done
    error = assert_error(response, 503, "UNAVAILABLE")
    assert error["message"] == "Rate limiting is unavailable; retry shortly."
    assert response["Retry-After"] == "5"
    assert _everything_a_write_may_touch() == before


@pytest.mark.parametrize("failure", [ConnectionError, TimeoutError, OSError])
def test_rate_limit_fails_closed_when_counter_raises(user, monkeypatch, api_client, failure):
    def broken_get_usage(*args, **kwargs):
        raise failure("cache unreachable")

    monkeypatch.setattr("socialhub.api.ratelimit.get_usage", broken_get_usage)

    response = api_client.post(
        LOGIN_URL, {"email": user.email, "password": "correct horse battery staple"}, format="json"
    )

    assert_error(response, 503, "UNAVAILABLE")
    assert "accessToken" not in response.content.decode()


def test_django_request_log_lines_carry_the_correlation_id(db, caplog):
    """Django logs "Not Found" after the middleware chain; the id must still be set then."""
    caplog.handler.addFilter(CorrelationIdLogFilter())
    client = APIClient()

    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/api/v1/no-such-endpoint", HTTP_X_CORRELATION_ID="django-log-9")

    records = [r for r in caplog.records if r.name == "django.request"]
    assert records, "Django logged nothing for the 404"
    assert all(r.correlation_id == "django-log-9" for r in records)


def test_rate_limit_counter_read_failure_is_503_not_429(user, monkeypatch, api_client):
    """django-ratelimit's own fail-closed answer (limit 0) means the store is unusable."""
    monkeypatch.setattr(
        "socialhub.api.ratelimit.get_usage",
        lambda *a, **k: {"count": 0, "limit": 0, "should_limit": True, "time_left": -1},
    )

    response = api_client.post(
        LOGIN_URL, {"email": user.email, "password": "correct horse battery staple"}, format="json"
    )

    assert_error(response, 503, "UNAVAILABLE")


def test_django_log_lines_are_written_once():
    """Django's own console handler is dropped: its records go through the root handler
    (with the correlation id) and nowhere else."""
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate is True
