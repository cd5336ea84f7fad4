"""Property-based fuzzing of the whole API from its published schema (``/api/schema/``).

schemathesis reads the OpenAPI document the service serves, generates valid and invalid
requests for every operation and checks each answer: never a 5xx, and status code, content
type, headers and body exactly as the schema documents them. Every operation is fuzzed as
each of three callers: a creator (JWT), a workspace API key holding every scope, and a plain
member of that workspace (JWT).

Path parameters are sometimes the ids of real rows the caller may reach (and sometimes
another tenant's, or random ones) so the fuzzer gets past the 404s into the real work.

The suite runs a bounded number of cases per operation and caller, derandomized so a run is
reproducible. A longer, randomized run::

    SOCIALHUB_FUZZ_EXAMPLES=500 SOCIALHUB_FUZZ_RANDOM=1 scripts/test.sh tests/api/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import itertools
import os
import types

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts.models import Membership, Platform
from accounts.services.webhooks import webhook_endpoint_create
from scheduling.models import PostTarget
from socialhub.wsgi import application
from tests.factories import (
    InboxItemFactory,
    LeaseFactory,
    MetricsSnapshotFactory,
    PostTargetFactory,
    ScheduledPostFactory,
    SocialAccountFactory,
    UserFactory,
    add_member,
    api_key_for,
    shared_workspace,
)

EXAMPLES = int(os.environ.get("SOCIALHUB_FUZZ_EXAMPLES", "25"))
RANDOM = os.environ.get("SOCIALHUB_FUZZ_RANDOM", "") not in ("", "0")

CALLERS = ("creator", "partner_key", "member")


def _tenant(name: str):
    """A workspace owned by a creator, with a member, accounts with history (one leased to
    the member), a post queued to both, a webhook endpoint and a key with every scope."""
    owner, member = UserFactory(), UserFactory()
    workspace = shared_workspace(owner, name=name)
    membership = add_member(workspace, member, Membership.Role.MEMBER)
    account = SocialAccountFactory(
        user=owner, workspace=workspace, platform=Platform.INSTAGRAM, followers=100
    )
    leased = SocialAccountFactory(user=member, workspace=workspace, platform=Platform.X)
    personal = SocialAccountFactory(user=owner, platform=Platform.YOUTUBE, followers=7)
    post = ScheduledPostFactory(workspace=workspace, author=owner)
    webhook, _ = webhook_endpoint_create(
        workspace=workspace,
        url="https://hooks.example.com/socialhub",
        events=["account.disconnected"],
        created_by=owner,
    )
    for each in (account, leased, personal):
        PostTargetFactory(post=post, social_account=each, status=PostTarget.Status.QUEUED)
        MetricsSnapshotFactory(social_account=each)
        InboxItemFactory(social_account=each)
    LeaseFactory(social_account=leased)
    key, secret = api_key_for(workspace, name=f"{name} key")
    return types.SimpleNamespace(
        owner=owner,
        member=member,
        workspace=workspace,
        membership=membership,
        accounts=[account, leased, personal],
        post=post,
        webhook=webhook,
        key=key,
        secret=secret,
    )


def _operations() -> list[tuple[str, str]]:
    """Every documented (method, path), read from the schema generator at collection."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.fixture(scope="module")
def served_schema(django_db_blocker):
    """The schema as this deployment serves it at /api/schema/."""
    with django_db_blocker.unblock(), _connections_kept():
        schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    # A body over the size limit is refused with a 413 before it is read.
    schema.config.checks.negative_data_rejection.expected_statuses.append("413")
    return schema


@contextlib.contextmanager
def _connections_kept():
    """Requests go through the WSGI handler, whose request signals would close the test's
    connection (and its transaction); Django's own test client holds them back the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, settings):
    # Rate limits are tested on their own; here they would only turn the work into 429s.
    settings.RATELIMITS = {name: "100000/m" for name in settings.RATELIMITS}
    return _tenant("Ours"), _tenant("Theirs")


def _authorization(caller: str, ours) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    if caller == "partner_key":
        return f"Bearer {ours.secret}"
    user = ours.owner if caller == "creator" else ours.member
    return f"Bearer {RefreshToken.for_user(user).access_token}"


def _known_ids(ours, theirs) -> dict[str, list[str]]:
    return {
        "social_account_id": [a.public_id for a in ours.accounts + theirs.accounts[:1]],
        "scheduled_post_id": [ours.post.public_id, theirs.post.public_id],
        "webhook_id": [ours.webhook.public_id, theirs.webhook.public_id],
        "workspace_id": [ours.workspace.public_id, theirs.workspace.public_id],
        "api_key_id": [ours.key.public_id, theirs.key.public_id],
    }


OPERATIONS = _operations()


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_as_documented_and_never_with_a_5xx(
    served_schema, world, caller, method, path
):
    ours, theirs = world
    operation = served_schema[path][method]
    # Fixed, so that schema-violating cases never have their credentials mutated.
    headers = {"Authorization": _authorization(caller, ours)}
    ids = _known_ids(ours, theirs)
    names = [name for name in ids if "{" + name + "}" in path]
    real_paths = [dict(zip(names, combo, strict=True)) for combo in _combinations(ids, names)]
    cases = st.one_of(
        [
            operation.as_strategy(mode, headers=headers, path_parameters=path_parameters)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for path_parameters in [None, *real_paths]
        ]
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case):
        case.call_and_validate(
            headers=headers,
            excluded_checks=[positive_data_acceptance],
            additional_checks=[schema_valid_requests_are_accepted],
        )

    with _connections_kept():
        answers_as_documented()


# Rules JSON Schema cannot state: a schema-valid value may still be refused with a 400 that
# names one of these fields.
BEYOND_THE_SCHEMA = {
    "state": "a connect's state must be one connect/start issued to this caller",
    "password": "password strength: not too common, not like the email or name, not all digits",
    "url": "a webhook URL must be a public http(s) address",
    "redirectUri": "an absolute http(s) URL, as Django's URL validator reads one",
    "mediaUrls": "absolute http(s) URLs, as Django's URL validator reads them",
    "email": "an address, as Django's email validator reads one",
    "scheduledAt": "in the future, at most a year ahead",
    "socialAccountIds": "accounts that exist, are active and may be posted to by the caller",
    "text": "not blank unless mediaUrls are given",
    "cursor": "a nextCursor this endpoint gave out",
}


# Said of every string field rather than stated on each: no NUL character, and not blank
# once the whitespace around it is trimmed.
REFUSED_ANYWHERE = {"Null characters are not allowed.", "This field may not be blank."}


def schema_valid_requests_are_accepted(ctx, response, case):
    """schemathesis's positive-data check, except for the refusals in BEYOND_THE_SCHEMA and
    REFUSED_ANYWHERE."""
    if response.status_code == 400:
        details = response.json()["error"]["details"]
        if not isinstance(details, list):
            details = []
        fields = {
            detail.get("field", "").split("[")[0]
            for detail in details
            if detail.get("message") not in REFUSED_ANYWHERE
        }
        if details and fields <= BEYOND_THE_SCHEMA.keys():
            return None
    return positive_data_acceptance(ctx, response, case)


def _combinations(ids: dict[str, list[str]], names: list[str]) -> list[tuple[str, ...]]:
    return list(itertools.product(*(ids[name] for name in names))) if names else []
