"""The health check, the OpenAPI schema and the interactive docs."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_healthz_reports_ok(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {"status": "ok", "database": "ok", "cache": "ok"},
    }
    assert response["X-Correlation-ID"]


def test_healthz_needs_no_credentials_even_with_a_bad_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")

    assert api_client.get("/healthz").status_code == 200


def test_healthz_with_cache_down_is_503_degraded(cache_down, api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "success": False,
        "data": {"status": "degraded", "database": "ok", "cache": "unavailable"},
    }


def test_healthz_with_database_down_is_503_degraded(monkeypatch, api_client):
    class DeadConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr("socialhub.api.views.connection", DeadConnection())

    response = api_client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["data"] == {
        "status": "degraded",
        "database": "unavailable",
        "cache": "ok",
    }


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_healthz_wrong_method_is_405_envelope(method):
    client = APIClient(enforce_csrf_checks=True)

    response = getattr(client, method)("/healthz")

    assert response.status_code == 405
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert body["error"]["correlationId"] == response["X-Correlation-ID"]
    assert "GET" in response["Allow"]


@pytest.fixture
def schema(api_client) -> dict:
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/")
    return response.json()


def test_schema_lists_the_api(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "socialhub API"
    for path, method in [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/creators/social", "get"),
        ("/api/v1/creators/social/connect/start", "post"),
        ("/api/v1/creators/social/connect", "post"),
        ("/api/v1/creators/social/disconnect", "post"),
        ("/api/v1/creators/profile", "get"),
        ("/api/v1/scheduled-posts", "get"),
        ("/api/v1/scheduled-posts", "post"),
        ("/api/v1/scheduled-posts/{scheduled_post_id}", "patch"),
        ("/api/v1/scheduled-posts/{scheduled_post_id}/cancel", "post"),
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks/{webhook_id}/deliveries", "get"),
        ("/api/v1/audit-events", "get"),
    ]:
        assert method in schema["paths"].get(path, {}), f"{method.upper()} {path} missing"


def test_schema_documents_request_bodies_and_bearer_auth(schema):
    login = schema["paths"]["/api/v1/auth/login"]["post"]
    login_body = login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    login_fields = schema["components"]["schemas"][login_body.rsplit("/", 1)[-1]]["properties"]
    assert set(login_fields) == {"email", "password"}
    disconnect = schema["paths"]["/api/v1/creators/social/disconnect"]["post"]
    assert "requestBody" in disconnect
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def _component(schema, operation) -> dict:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("social_account_id", "sa"),
        ("scheduled_post_id", "sp"),
        ("webhook_id", "wh"),
        ("workspace_id", "ws"),
        ("api_key_id", "key"),
        ("workspace", "ws"),
        ("socialAccountId", "sa"),
    ],
)
def test_every_id_parameter_states_the_form_it_takes(schema, name, prefix):
    """A client (or a fuzzer) reading the schema learns an id's form before it is refused."""
    found = [
        parameter["schema"]
        for _, _, operation in _operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["name"] == name
    ]
    assert found
    for parameter_schema in found:
        assert re.fullmatch(parameter_schema["pattern"], f"{prefix}_{uuid.uuid4()}")
        assert not re.fullmatch(parameter_schema["pattern"], f"{prefix}_{uuid.uuid4()}".upper())
        assert not re.fullmatch(parameter_schema["pattern"], f"{prefix}_nope")


def test_ids_in_bodies_state_their_form(schema):
    create = schema["paths"]["/api/v1/scheduled-posts"]["post"]
    targets = _component(schema, create)["properties"]["socialAccountIds"]
    assert targets["minItems"] == 1
    assert targets["items"]["pattern"].startswith("^sa_")
    webhook = _component(schema, schema["paths"]["/api/v1/webhooks"]["post"])
    assert webhook["properties"]["workspace"]["pattern"].startswith("^ws_")
    assert webhook["properties"]["events"]["uniqueItems"] is True


def test_an_edit_must_name_at_least_one_field(schema):
    edit = schema["paths"]["/api/v1/scheduled-posts/{scheduled_post_id}"]["patch"]

    assert edit["requestBody"]["required"] is True
    assert _component(schema, edit)["anyOf"] == [
        {"required": [name]} for name in ("text", "scheduledAt", "socialAccountIds", "mediaUrls")
    ]


def test_register_documents_the_409_of_a_taken_email(schema):
    assert "409" in schema["paths"]["/api/v1/auth/register"]["post"]["responses"]


def test_page_size_and_idempotency_key_state_their_bounds(schema):
    listing = schema["paths"]["/api/v1/audit-events"]["get"]
    (limit,) = [p["schema"] for p in listing["parameters"] if p["name"] == "limit"]
    assert (limit["minimum"], limit["maximum"]) == (1, 100)
    create = schema["paths"]["/api/v1/workspaces"]["post"]
    (key,) = [p["schema"] for p in create["parameters"] if p["name"] == "Idempotency-Key"]
    assert re.fullmatch(key["pattern"], "!" * 255)
    assert not re.fullmatch(key["pattern"], "a b")
    assert not re.fullmatch(key["pattern"], "a" * 256)


def test_schema_is_valid_openapi(schema):
    from drf_spectacular.validation import validate_schema

    validate_schema(schema)


def test_schema_generates_without_warnings():
    """Every view documents its shapes: no guessed serializers, no colliding enum names."""
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--validate", stdout=io.StringIO())


def test_schema_needs_no_credentials_and_ignores_a_bad_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")

    response = api_client.get("/api/schema/?format=json")

    assert response.status_code == 200


def test_docs_page_is_html(api_client):
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()
    assert b"/api/schema/" in response.content


# The schema describes what goes over the wire ---------------------------------------------


def _openapi_to_jsonschema(node):
    """OpenAPI 3.0's ``nullable`` becomes a JSON Schema type union, recursively."""
    if isinstance(node, dict):
        node = {key: _openapi_to_jsonschema(value) for key, value in node.items()}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    return node


def _response_schema(spec, path, method, status):
    schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"]
    return _openapi_to_jsonschema({**schema["schema"], "components": spec["components"]})


@pytest.fixture
def spec(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_real_responses_match_the_published_schema(spec, user, account):
    import jsonschema

    from tests.helpers import bearer_client

    client = bearer_client(user)
    listed = client.get("/api/v1/creators/social").json()
    profile = client.get("/api/v1/creators/profile").json()
    missing = client.post(
        "/api/v1/creators/social/disconnect", {"platform": "x"}, format="json"
    ).json()
    done = client.post(
        "/api/v1/creators/social/disconnect", {"platform": "instagram"}, format="json"
    ).json()

    jsonschema.validate(listed, _response_schema(spec, "/api/v1/creators/social", "get", "200"))
    jsonschema.validate(profile, _response_schema(spec, "/api/v1/creators/profile", "get", "200"))
    disconnect = "/api/v1/creators/social/disconnect"
    jsonschema.validate(missing, _response_schema(spec, disconnect, "post", "404"))
    jsonschema.validate(done, _response_schema(spec, disconnect, "post", "200"))
    with pytest.raises(jsonschema.ValidationError):  # the check has teeth
        jsonschema.validate(missing, _response_schema(spec, disconnect, "post", "200"))


def test_every_api_operation_documents_the_error_envelope(spec):
    operations = [
        (path, method, op)
        for path, methods in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in methods.items()
    ]

    assert len(operations) >= 9
    for path, method, op in operations:
        for status in ("400", "401", "404", "429", "500"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (path, method)
        success = next(code for code in op["responses"] if code.startswith("2"))
        body = op["responses"][success]["content"]["application/json"]["schema"]
        assert body["properties"]["success"] == {"type": "boolean", "enum": [True]}


def test_docs_assets_are_served_by_this_deployment(api_client, settings, tmp_path):
    """Swagger UI comes from our static files (collected, as in production, and served by
    WhiteNoise), so the docs work without internet."""
    import re

    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--noinput", verbosity=0)
    html = api_client.get("/api/docs/").content.decode()
    scripts = re.findall(r'src="([^"]+)"', html)

    assert scripts and all(src.startswith("/static/") for src in scripts)
    for src in scripts:
        response = api_client.get(src)
        assert response.status_code == 200
        assert b"".join(response.streaming_content if response.streaming else [response.content])


def test_partner_and_workspace_responses_match_the_published_schema(spec, user, account):
    import jsonschema

    from accounts.models import KillSwitch
    from tests.factories import LeaseFactory, SocialAccountFactory, personal_workspace
    from tests.helpers import bearer_client, key_client

    owner = bearer_client(user)
    workspace = personal_workspace(user).public_id
    leased = SocialAccountFactory(user=user, platform="x", followers=3)
    LeaseFactory(social_account=leased)

    def check(response, path, method, status):
        schema = _response_schema(spec, path, method, status)
        jsonschema.validate(response.json(), schema)
        return response.json()

    check(owner.get("/api/v1/workspaces"), "/api/v1/workspaces", "get", "200")
    created = check(
        owner.post("/api/v1/workspaces", {"name": "Agency"}, format="json"),
        "/api/v1/workspaces",
        "post",
        "201",
    )
    members = "/api/v1/workspaces/{workspace_id}/members"
    check(owner.get(f"/api/v1/workspaces/{created['data']['id']}/members"), members, "get", "200")
    keys = "/api/v1/workspaces/{workspace_id}/api-keys"
    issued = check(
        owner.post(
            f"/api/v1/workspaces/{workspace}/api-keys",
            {"name": "crm", "scopes": ["social:read", "social:write"]},
            format="json",
        ),
        keys,
        "post",
        "201",
    )["data"]
    check(owner.get(f"/api/v1/workspaces/{workspace}/api-keys"), keys, "get", "200")
    partner = key_client(issued["key"])
    check(partner.get("/api/v1/social-accounts"), "/api/v1/social-accounts", "get", "200")
    detail = "/api/v1/social-accounts/{social_account_id}"
    check(partner.get(f"/api/v1/social-accounts/{account.public_id}"), detail, "get", "200")
    check(partner.delete(f"/api/v1/social-accounts/{account.public_id}"), detail, "delete", "200")
    leased_path = "/api/v1/leased-accounts/{social_account_id}"
    check(
        partner.delete(f"/api/v1/leased-accounts/{leased.public_id}"), leased_path, "delete", "200"
    )
    KillSwitch.objects.create(scope=KillSwitch.Scope.GLOBAL, enabled=True)
    switched_off = check(
        partner.get("/api/v1/social-accounts"), "/api/v1/social-accounts", "get", "503"
    )
    assert switched_off["error"]["details"] == {"scope": "global"}
    revoke = "/api/v1/workspaces/{workspace_id}/api-keys/{api_key_id}"
    check(
        owner.delete(f"/api/v1/workspaces/{workspace}/api-keys/{issued['id']}"),
        revoke,
        "delete",
        "200",
    )
