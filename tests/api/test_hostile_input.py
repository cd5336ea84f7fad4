"""Bodies built to break the parser get a 4xx envelope, change nothing and echo nothing."""

from __future__ import annotations

import pytest

from accounts.models import SocialAccount
from tests.factories import SocialAccountFactory
from tests.helpers import assert_error, assert_success, bearer_client

pytestmark = pytest.mark.django_db

DISCONNECT_URL = "/api/v1/creators/social/disconnect"


def post_raw(client, body, content_type="application/json"):
    return client.generic("POST", DISCONNECT_URL, body, content_type=content_type)


@pytest.fixture
def creator_with_account(user):
    SocialAccountFactory(user=user)
    return bearer_client(user)


def test_deeply_nested_json_is_400_not_500(creator_with_account):
    nested = "[" * 100_000 + "]" * 100_000

    response = post_raw(creator_with_account, nested)

    assert_error(response, 400, "VALIDATION", "common.malformed_json")
    assert SocialAccount.objects.count() == 1


def test_a_body_over_the_limit_is_413_and_nothing_changes(settings, creator_with_account):
    settings.API_MAX_BODY_BYTES = 1024
    body = '{"platform": "instagram", "pad": "' + "a" * 2048 + '"}'

    response = post_raw(creator_with_account, body)

    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["i18nVars"] == {"limit": 1024}
    assert SocialAccount.objects.count() == 1


def test_a_body_at_the_limit_is_parsed(settings, creator_with_account):
    body = '{"platform": "instagram"}'
    settings.API_MAX_BODY_BYTES = len(body)

    response = post_raw(creator_with_account, body)

    assert_success(response)
    assert SocialAccount.objects.count() == 0


def test_an_unknown_value_is_not_echoed_back(creator_with_account):
    marker = "<script>alert(1)</script>" + "z" * 5000

    response = creator_with_account.post(DISCONNECT_URL, {"platform": marker}, format="json")

    error = assert_error(response, 400, "VALIDATION")
    assert "<script>" not in response.content.decode()
    assert "zzzz" not in response.content.decode()
    assert error["details"][0]["field"] == "platform"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(creator_with_account, constant):
    response = post_raw(creator_with_account, f'{{"platform": {constant}}}')

    assert_error(response, 400, "VALIDATION", "common.malformed_json")


def test_an_unknown_charset_is_read_as_utf8(creator_with_account):
    """Django ignores a charset it does not know; the body is read as UTF-8."""
    response = post_raw(
        creator_with_account, '{"platform": "instagram"}', "application/json; charset=no-such"
    )

    assert_success(response)
    assert SocialAccount.objects.count() == 0


# Every new write endpoint, with bodies of the wrong shape ---------------------------------

WRONG_SHAPES = [
    [],
    "text",
    7,
    None,
    {"text": 5, "scheduledAt": [], "socialAccountIds": "sa_x"},
    {"text": "hi", "scheduledAt": "tomorrow", "socialAccountIds": [None, 3, {}]},
    {"text": "hi", "scheduledAt": "2030-01-01T00:00:00Z", "socialAccountIds": ["sa_" + "f" * 300]},
    {"text": "hi", "scheduledAt": "9999-12-31T23:59:59+14:00", "socialAccountIds": []},
    {"text": "hi", "scheduledAt": "2030-02-30T00:00:00Z", "socialAccountIds": ["x"] * 500},
    {"text": "\x00", "mediaUrls": ["javascript:alert(1)", 5], "scheduledAt": None},
    {"url": {"nested": True}, "events": "post.published"},
    {"url": "http://" + "a" * 3000 + ".example", "events": ["post.published"] * 50},
    {"url": "ftp://example.com/hook", "events": [None], "workspace": 12},
    {"url": "https://exa mple.com/", "events": ["account.connected"], "description": ["x"]},
]


def hostile_targets(user) -> list[tuple[str, str]]:
    from tests.factories import ScheduledPostFactory, personal_workspace

    post = ScheduledPostFactory(author=user, workspace=personal_workspace(user))
    return [
        ("POST", "/api/v1/scheduled-posts"),
        ("PATCH", f"/api/v1/scheduled-posts/{post.public_id}"),
        ("POST", "/api/v1/webhooks"),
    ]


@pytest.mark.parametrize("body", WRONG_SHAPES, ids=range(len(WRONG_SHAPES)))
def test_new_write_endpoints_answer_wrong_shapes_with_a_400_and_change_nothing(user, body):
    import json

    from scheduling.models import PostTarget, ScheduledPost

    client = bearer_client(user)
    targets = hostile_targets(user)
    before = (ScheduledPost.objects.count(), PostTarget.objects.count())
    for method, url in targets:
        response = client.generic(method, url, json.dumps(body), content_type="application/json")

        assert response.status_code == 400, (method, url, response.content[:300])
        assert_error(response, 400, "VALIDATION")
    assert (ScheduledPost.objects.count(), PostTarget.objects.count()) == before


def test_a_nul_character_in_any_query_parameter_is_a_400_naming_it(user):
    """PostgreSQL refuses NUL in a query; one in a filter once answered 500."""
    schema = bearer_client(user).get("/api/schema/?format=json").json()
    client = bearer_client(user)
    probed = []
    for path, operations in schema["paths"].items():
        listing = operations.get("get")
        if listing is None or "{" in path:
            continue
        for parameter in listing.get("parameters", []):
            if parameter["in"] != "query":
                continue
            response = client.get(path, {parameter["name"]: "a\x00b"})

            error = assert_error(response, 400, "VALIDATION")
            assert [item["field"] for item in error["details"]] == [parameter["name"]]
            probed.append(parameter["name"])
    assert {"action", "status", "workspace", "cursor", "limit"} <= set(probed)
