"""Register, log in, refresh, log out, and what the Bearer JWT check refuses."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as django_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import AuditEvent, CreatorProfile, Membership, User, Workspace
from socialhub.api.ids import parse_public_id
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import (
    PROFILE_URL,
    assert_error,
    bearer_client,
    run_concurrently,
    token_client,
)

REGISTER_URL = "/api/v1/auth/register"
LOGIN_URL = "/api/v1/auth/login"
REFRESH_URL = "/api/v1/auth/refresh"
LOGOUT_URL = "/api/v1/auth/logout"
STRONG_PASSWORD = "a long enough passphrase"

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    body = {"email": "new.creator@example.com", "password": STRONG_PASSWORD, "name": "New"}
    body.update(overrides)
    return client.post(REGISTER_URL, body, format="json")


def login(client, email, password=DEFAULT_PASSWORD):
    return client.post(LOGIN_URL, {"email": email, "password": password}, format="json")


def token_pair(client, user) -> dict:
    response = login(client, user.email)
    assert response.status_code == 200
    return response.json()["data"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Register ----------------------------------------------------------------------------------


def test_register_answers_201_with_id_and_email_only(api_client):
    response = register(api_client, email="New.Creator@Example.COM")

    assert response.status_code == 201
    data = response.json()["data"]
    assert set(data) == {"id", "email"}
    assert data["email"] == "new.creator@example.com"
    user = User.objects.get(id=parse_public_id("usr", data["id"]))
    assert user.email == "new.creator@example.com"
    assert user.check_password(STRONG_PASSWORD)
    text = response.content.decode()
    assert STRONG_PASSWORD not in text
    assert user.password not in text


def test_register_creates_personal_workspace_profile_and_audit_event(api_client):
    response = register(api_client, name="Ada")

    user = User.objects.get(email="new.creator@example.com")
    assert user.name == "Ada"
    membership = Membership.objects.select_related("workspace").get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.workspace.is_personal is True
    assert membership.workspace.name == "Ada"
    assert CreatorProfile.objects.get(user=user).total_followers == 0
    event = AuditEvent.objects.get(action="user.registered", actor_id=response.json()["data"]["id"])
    assert event.actor_type == AuditEvent.ActorType.USER
    assert event.workspace_id == membership.workspace.public_id
    assert event.subject_ids == [user.public_id]


def test_registered_user_can_log_in(api_client):
    register(api_client)

    response = login(api_client, "new.creator@example.com", STRONG_PASSWORD)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "email", ["taken@example.com", "TAKEN@example.com", "Taken@Example.Com", " taken@example.com "]
)
def test_register_duplicate_email_is_409(api_client, email):
    UserFactory(email="taken@example.com")
    users_before, workspaces_before = User.objects.count(), Workspace.objects.count()

    response = register(api_client, email=email)

    error = assert_error(response, 409, "CONFLICT")
    assert error["i18nKey"] == "auth.register.email_taken"
    assert error["details"][0]["field"] == "email"
    assert (User.objects.count(), Workspace.objects.count()) == (users_before, workspaces_before)


@pytest.mark.parametrize(
    ("password", "email"),
    [
        ("short1!", "weak@example.com"),
        ("password123", "weak@example.com"),
        ("qwertyuiop", "weak@example.com"),
        ("4815162342108", "weak@example.com"),
        ("marguerite.dupont", "marguerite.dupont@example.com"),
    ],
    ids=["short", "common", "common-keyboard", "numeric", "like-email"],
)
def test_register_weak_password_is_400_on_password(api_client, password, email):
    response = register(api_client, email=email, password=password)

    error = assert_error(response, 400, "VALIDATION")
    assert error["details"]
    assert {item["field"] for item in error["details"]} == {"password"}
    assert not User.objects.filter(email=email).exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "not-an-email", "password": STRONG_PASSWORD, "name": "X"}, {"email"}),
        ({"email": "a@b", "password": STRONG_PASSWORD, "name": "X"}, {"email"}),
        ({"password": STRONG_PASSWORD, "name": "X"}, {"email"}),
        ({"email": "x@example.com", "name": "X"}, {"password"}),
        ({"email": "x@example.com", "password": STRONG_PASSWORD}, {"name"}),
        ({}, {"email", "password", "name"}),
        ({"email": "x@example.com", "password": STRONG_PASSWORD, "name": ""}, {"name"}),
        ({"email": "x@example.com", "password": 12345678901234, "name": "X"}, {"password"}),
        ({"email": "x@example.com", "password": [STRONG_PASSWORD], "name": "X"}, {"password"}),
        ({"email": "x@example.com", "password": STRONG_PASSWORD, "name": {"a": 1}}, {"name"}),
        ({"email": "x@example.com", "password": STRONG_PASSWORD, "name": 7}, {"name"}),
        ({"email": ["x@example.com"], "password": STRONG_PASSWORD, "name": "X"}, {"email"}),
        ({"email": None, "password": None, "name": None}, {"email", "password", "name"}),
        ({"email": "x@example.com", "password": "p" * 129, "name": "X"}, {"password"}),
        ({"email": "x@example.com", "password": STRONG_PASSWORD, "name": "n" * 151}, {"name"}),
    ],
    ids=[
        "invalid-email",
        "email-without-domain-dot",
        "missing-email",
        "missing-password",
        "missing-name",
        "empty",
        "blank-name",
        "int-password",
        "list-password",
        "dict-name",
        "int-name",
        "list-email",
        "nulls",
        "password-too-long",
        "name-too-long",
    ],
)
def test_register_invalid_body_is_400_naming_fields(api_client, body, fields):
    response = api_client.post(REGISTER_URL, body, format="json")

    error = assert_error(response, 400, "VALIDATION")
    assert {item["field"] for item in error["details"]} == fields
    assert not User.objects.exists()


@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null", "true"])
def test_register_non_object_json_is_400(api_client, raw):
    response = api_client.post(REGISTER_URL, raw, content_type="application/json")

    error = assert_error(response, 400, "VALIDATION")
    assert error["details"]


# Login -------------------------------------------------------------------------------------


def test_login_tokens_work_as_bearer(user, api_client):
    data = token_pair(api_client, user)

    assert set(data) == {"accessToken", "refreshToken"}
    response = token_client(data["accessToken"]).get(PROFILE_URL)
    assert response.status_code == 200
    assert response.json()["data"]["id"] == user.public_id


def test_login_email_is_case_insensitive(user, api_client):
    response = login(api_client, user.email.upper())

    assert response.status_code == 200


@pytest.mark.parametrize("case", ["wrong-password", "unknown-email", "inactive-user"])
def test_login_failure_is_401_invalid_credentials(user, api_client, case):
    email, password = user.email, DEFAULT_PASSWORD
    if case == "wrong-password":
        password = "not the password at all"
    elif case == "unknown-email":
        email = "nobody@example.com"
    else:
        User.objects.filter(pk=user.pk).update(is_active=False)

    response = login(api_client, email, password)

    error = assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert error["i18nKey"] == "auth.login.invalid_credentials"
    assert "accessToken" not in response.content.decode()


def test_login_failures_do_not_reveal_which_part_was_wrong(user, api_client):
    wrong_password = assert_error(
        login(api_client, user.email, "nope nope"), 401, "AUTH_UNAUTHORIZED"
    )
    unknown_email = assert_error(login(api_client, "ghost@example.com"), 401, "AUTH_UNAUTHORIZED")

    del wrong_password["correlationId"], unknown_email["correlationId"]
    assert wrong_password == unknown_email


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "a@example.com"}, {"email": 1, "password": 2}, {"email": None, "password": "x"}],
)
def test_login_invalid_body_is_400(api_client, body):
    response = api_client.post(LOGIN_URL, body, format="json")

    assert_error(response, 400, "VALIDATION")


def test_login_rate_limit_answers_429_with_retry_after(settings, user, api_client):
    settings.RATELIMITS = {**settings.RATELIMITS, "auth.login": "3/h"}

    statuses = [login(api_client, user.email, "wrong password!").status_code for _ in range(3)]
    limited = login(api_client, user.email)  # even the right password is refused now

    assert statuses == [401, 401, 401]
    error = assert_error(limited, 429, "RATE_LIMITED")
    retry_after = int(limited["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert error["i18nVars"] == {"retryAfter": retry_after}
    assert "accessToken" not in limited.content.decode()


def test_refresh_has_its_own_budget_separate_from_login(settings, user, api_client):
    settings.RATELIMITS = {**settings.RATELIMITS, "auth.login": "2/h", "auth.refresh": "5/h"}
    pair = token_pair(api_client, user)
    login(api_client, user.email, "wrong password!")  # login budget now spent

    refreshed = api_client.post(
        "/api/v1/auth/refresh", {"refreshToken": pair["refreshToken"]}, format="json"
    )

    assert refreshed.status_code == 200
    assert login(api_client, user.email).status_code == 429


# Refresh and logout ------------------------------------------------------------------------


def test_refresh_rotates_and_blacklists_the_old_token(user, api_client):
    first = token_pair(api_client, user)

    response = api_client.post(REFRESH_URL, {"refreshToken": first["refreshToken"]}, format="json")

    assert response.status_code == 200
    second = response.json()["data"]
    assert set(second) == {"accessToken", "refreshToken"}
    assert second["refreshToken"] != first["refreshToken"]
    assert token_client(second["accessToken"]).get(PROFILE_URL).status_code == 200
    replay = api_client.post(REFRESH_URL, {"refreshToken": first["refreshToken"]}, format="json")
    assert_error(replay, 401, "AUTH_UNAUTHORIZED")
    again = api_client.post(REFRESH_URL, {"refreshToken": second["refreshToken"]}, format="json")
    assert again.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_one_refresh_token_sent_by_parallel_requests_is_rotated_once(settings):
    """A stolen refresh token raced against its owner's must not yield two sessions."""
    settings.RATELIMITS = {**settings.RATELIMITS, "auth.refresh": "1000/m"}
    user = UserFactory()
    token = str(RefreshToken.for_user(user))

    answers = run_concurrently(
        *[lambda: APIClient().post(REFRESH_URL, {"refreshToken": token}, format="json")] * 8
    )

    assert sorted(answer.status_code for answer in answers) == [200] + [401] * 7
    for refused in (answer for answer in answers if answer.status_code == 401):
        assert_error(refused, 401, "AUTH_UNAUTHORIZED")
    [winner] = [answer.json()["data"] for answer in answers if answer.status_code == 200]
    rotated = APIClient().post(REFRESH_URL, {"refreshToken": winner["refreshToken"]}, format="json")
    assert rotated.status_code == 200


def test_logout_blacklists_the_refresh_token(user, api_client):
    pair = token_pair(api_client, user)

    response = api_client.post(LOGOUT_URL, {"refreshToken": pair["refreshToken"]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"success": True}
    refresh = api_client.post(REFRESH_URL, {"refreshToken": pair["refreshToken"]}, format="json")
    assert_error(refresh, 401, "AUTH_UNAUTHORIZED")
    again = api_client.post(LOGOUT_URL, {"refreshToken": pair["refreshToken"]}, format="json")
    assert_error(again, 401, "AUTH_UNAUTHORIZED")


@pytest.mark.parametrize("url", [REFRESH_URL, LOGOUT_URL])
@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "", "eyJhbGciOiJIUzI1NiJ9.e30.x"], ids=lambda t: t or "empty"
)
def test_bad_refresh_token_is_rejected(api_client, url, token):
    response = api_client.post(url, {"refreshToken": token}, format="json")

    assert response.status_code in {400, 401}
    assert response.json()["success"] is False
    if token:
        assert_error(response, 401, "AUTH_UNAUTHORIZED")


@pytest.mark.parametrize("url", [REFRESH_URL, LOGOUT_URL])
def test_access_token_is_not_a_refresh_token(user, api_client, url):
    pair = token_pair(api_client, user)

    response = api_client.post(url, {"refreshToken": pair["accessToken"]}, format="json")

    assert_error(response, 401, "AUTH_UNAUTHORIZED")


def test_refresh_for_deactivated_user_is_rejected(user, api_client):
    pair = token_pair(api_client, user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api_client.post(REFRESH_URL, {"refreshToken": pair["refreshToken"]}, format="json")

    assert_error(response, 401, "AUTH_UNAUTHORIZED")


# What the Bearer check refuses -------------------------------------------------------------


def test_control_hand_built_token_with_the_right_key_is_accepted(user):
    """The hand-built tokens below are refused for the reason they name, not their shape."""
    payload = AccessToken.for_user(user).payload
    token = jwt.encode(payload, django_settings.JWT_SIGNING_KEY, algorithm="HS256")

    assert token_client(token).get(PROFILE_URL).status_code == 200


def _assert_bearer_refused(token: str) -> None:
    response = token_client(token).get(PROFILE_URL)
    assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_tampered_payload_is_401(user):
    victim = UserFactory()
    header, _payload, signature = str(AccessToken.for_user(user)).split(".")
    forged = dict(AccessToken.for_user(user).payload, user_id=str(victim.id))
    forged_payload = b64url(json.dumps(forged).encode())

    _assert_bearer_refused(f"{header}.{forged_payload}.{signature}")


def test_tampered_signature_is_401(user):
    header, payload, signature = str(AccessToken.for_user(user)).split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]

    _assert_bearer_refused(f"{header}.{payload}.{flipped}")


def test_alg_none_token_is_401(user):
    payload = AccessToken.for_user(user).payload

    _assert_bearer_refused(jwt.encode(payload, None, algorithm="none"))


def test_alg_none_token_built_by_hand_is_401(user):
    payload = AccessToken.for_user(user).payload
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())

    _assert_bearer_refused(f"{header}.{body}.")


def test_expired_access_token_is_401(user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))

    _assert_bearer_refused(str(token))


def test_a_refused_token_is_explained_plainly(user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))

    error = assert_error(token_client(str(token)).get(PROFILE_URL), 401, "AUTH_UNAUTHORIZED")

    assert error["i18nKey"] == "auth.token_invalid"
    assert error["message"] == "The access token is invalid or expired; log in or refresh it."


def test_token_signed_with_secret_key_is_401(user):
    assert django_settings.SECRET_KEY != django_settings.JWT_SIGNING_KEY
    payload = AccessToken.for_user(user).payload

    _assert_bearer_refused(jwt.encode(payload, django_settings.SECRET_KEY, algorithm="HS256"))


def test_refresh_token_is_not_an_access_token(user):
    _assert_bearer_refused(str(RefreshToken.for_user(user)))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_token_signed_with_the_right_key_but_another_hmac_algorithm_is_401(user, algorithm):
    payload = AccessToken.for_user(user).payload
    token = jwt.encode(payload, django_settings.JWT_SIGNING_KEY, algorithm=algorithm)

    _assert_bearer_refused(token)


def test_token_signed_with_an_rsa_key_as_rs256_is_401(user):
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    payload = AccessToken.for_user(user).payload

    _assert_bearer_refused(jwt.encode(payload, private_key, algorithm="RS256"))


def test_token_signed_with_an_unrelated_random_key_is_401(user):
    payload = AccessToken.for_user(user).payload

    _assert_bearer_refused(jwt.encode(payload, secrets.token_urlsafe(50), algorithm="HS256"))


def test_access_token_of_deleted_user_is_401(user):
    client = bearer_client(user)
    User.objects.filter(pk=user.pk).delete()

    assert_error(client.get(PROFILE_URL), 401, "AUTH_UNAUTHORIZED")


def test_refresh_token_of_deleted_user_is_401(user, api_client):
    pair = token_pair(api_client, user)
    User.objects.filter(pk=user.pk).delete()

    response = api_client.post(REFRESH_URL, {"refreshToken": pair["refreshToken"]}, format="json")

    assert_error(response, 401, "AUTH_UNAUTHORIZED")
    assert "accessToken" not in response.content.decode()


def test_access_token_of_deactivated_user_is_401(user):
    client = bearer_client(user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert_error(client.get(PROFILE_URL), 401, "AUTH_UNAUTHORIZED")


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Token abc", "Basic dXNlcjpwYXNz", "Bearer a b", "bearer x"]
)
def test_malformed_authorization_header_is_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    assert_error(client.get(PROFILE_URL), 401, "AUTH_UNAUTHORIZED")


def test_stale_bad_authorization_header_is_ignored_on_public_endpoints(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer expired.or.garbage")

    registered = register(client)
    logged_in = login(client, user.email)
    pair = logged_in.json()["data"]
    refreshed = client.post(REFRESH_URL, {"refreshToken": pair["refreshToken"]}, format="json")
    logged_out = client.post(
        LOGOUT_URL, {"refreshToken": refreshed.json()["data"]["refreshToken"]}, format="json"
    )

    assert registered.status_code == 201
    assert logged_in.status_code == 200
    assert refreshed.status_code == 200
    assert logged_out.status_code == 200
