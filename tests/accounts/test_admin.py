"""Staff in the admin: every page renders without a token or secret in it, list pages cost
the same number of queries whatever the data, API key secrets are shown once, and social
accounts leave only through the disconnect (actions with a dry-run preview)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import (
    ApiKey,
    AuditEvent,
    IdempotencyRecord,
    KillSwitch,
    Membership,
    Platform,
    SandboxCredential,
    SocialAccount,
    TokenRevocation,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    Workspace,
)
from accounts.services import offboarding
from accounts.services.actors import Actor
from accounts.services.api_keys import api_key_hash
from accounts.services.disconnect import DisconnectReason, social_account_disconnect
from accounts.services.webhooks import webhook_endpoint_create
from scheduling.models import PostTarget, ScheduledPost
from tests.celery_worker import broker_unreachable
from tests.factories import (
    LeaseFactory,
    UserFactory,
    account_in,
    account_with_history,
    api_key_for,
    personal_workspace,
    sandbox_connected_account,
    shared_workspace,
)
from tests.helpers import followers_of

pytestmark = pytest.mark.django_db

STAFF_PASSWORD = "harbor-lantern-orbit-9"
# Encrypted or hashed columns: neither their stored value nor the plaintext may be shown.
SECRET_COLUMNS = {
    SocialAccount: ("access_token", "refresh_token"),
    TokenRevocation: ("access_token", "refresh_token"),
    IdempotencyRecord: ("response_body",),
    WebhookEndpoint: ("secret",),
    SandboxCredential: ("value_hash",),
    ApiKey: ("secret_hash",),
    OutstandingToken: ("token",),
}


@pytest.fixture
def staff():
    return User.objects.create_superuser("staff@example.com", STAFF_PASSWORD)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def populate(n: int) -> dict:
    """One of everything the admin lists, with secrets; returns the plaintext secrets."""
    creator = UserFactory()
    account = account_with_history(
        creator, Platform.INSTAGRAM, queued=2, published=1, snapshots=3, inbox=2
    )
    sandbox_account = sandbox_connected_account(creator, Platform.YOUTUBE, handle=f"tube{n}")
    gone = sandbox_connected_account(creator, Platform.X, handle=f"gone{n}")
    gone_tokens = [gone.access_token, gone.refresh_token]
    social_account_disconnect(
        account=gone, actor=Actor.system("tests"), reason=DisconnectReason.REVOKED_BY_USER
    )
    workspace = account.workspace
    _key, key_secret = api_key_for(workspace, name=f"key {n}")
    KillSwitch.objects.create(scope=KillSwitch.Scope.WORKSPACE, workspace=workspace)
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        url=f"https://hooks.example.com/{n}",
        events=["account.disconnected"],
        secret=f"whsec_admin_secret_{n}",
    )
    WebhookDelivery.objects.create(endpoint=endpoint, event="account.disconnected", body="{}")
    IdempotencyRecord.objects.create(
        caller=creator.public_id,
        key=f"idem-{n}",
        fingerprint="f" * 64,
        response_status=201,
        response_body=f'{{"secret": "shk_stored_answer_{n}"}}',
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    login = RefreshToken.for_user(creator)
    logged_out = RefreshToken.for_user(creator)
    logged_out.blacklist()
    return {
        "plaintexts": [
            str(login),
            str(logged_out),
            account.access_token,
            account.refresh_token,
            sandbox_account.access_token,
            sandbox_account.refresh_token,
            *gone_tokens,
            key_secret,
            endpoint.secret,
            f"shk_stored_answer_{n}",
        ]
    }


def stored_secret_values() -> set[str]:
    """The raw column values (ciphertext, hashes) as the database holds them."""
    values = set()
    with connection.cursor() as cursor:
        for model, columns in SECRET_COLUMNS.items():
            cursor.execute(f"SELECT {', '.join(columns)} FROM {model._meta.db_table}")
            values.update(value for row in cursor.fetchall() for value in row if value)
    return values


def admin_pages() -> list[str]:
    """Each registered model's changelist and the change page of one of its rows."""
    urls = []
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        row = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
        if row is not None:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row]))
    return urls


def changelist_urls() -> list[str]:
    return [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]


def test_every_admin_page_renders_without_tokens_or_secrets(staff_client):
    Group.objects.create(name="support")
    secrets = populate(1)["plaintexts"]
    stored = stored_secret_values()
    assert len(stored) >= 10 and all(secrets)

    for url in admin_pages():
        page = staff_client.get(url)
        html = page.content.decode()
        assert page.status_code == 200, url
        for value in [*secrets, *stored]:
            assert value not in html, (url, value[:12])
    # Every registered model had a row, so every change page was visited too.
    assert len(admin_pages()) == 2 * len(admin.site._registry)


def test_changelist_queries_do_not_grow_with_rows(staff_client):
    populate(1)

    def queries_per_page() -> dict[str, int]:
        counts = {}
        for url in changelist_urls():
            with CaptureQueriesContext(connection) as queries:
                assert staff_client.get(url).status_code == 200, url
            counts[url] = len(queries)
        return counts

    with_one_batch = queries_per_page()
    for n in range(2, 5):
        populate(n)
    assert queries_per_page() == with_one_batch


def test_admin_cannot_delete_a_social_account(staff_client, account):
    page = staff_client.get(f"/admin/accounts/socialaccount/{account.pk}/delete/")
    changelist = staff_client.get("/admin/accounts/socialaccount/")

    assert page.status_code == 403
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_admin_never_shows_tokens(staff_client, account):
    page = staff_client.get(f"/admin/accounts/socialaccount/{account.pk}/change/")
    raw = SocialAccount.objects.filter(pk=account.pk).values_list("access_token", flat=True)[0]

    html = page.content.decode()
    assert page.status_code == 200
    assert account.platform_username in html
    assert raw not in html
    assert "access_token" not in html and "refresh_token" not in html


def test_api_key_secret_is_shown_once_on_creation(staff_client, staff, user):
    workspace = personal_workspace(user)

    created = staff_client.post(
        "/admin/accounts/apikey/add/",
        {"workspace": str(workspace.pk), "name": "zapier", "scopes": ["social:read"]},
        follow=True,
    )
    html = created.content.decode()
    secret = re.search(r"shk_[A-Za-z0-9_-]{43}", html).group(0)
    api_key = ApiKey.objects.get(name="zapier")
    again = staff_client.get("/admin/accounts/apikey/").content.decode()
    change = staff_client.get(f"/admin/accounts/apikey/{api_key.pk}/change/").content.decode()

    assert created.status_code == 200
    assert "will not be shown again" in html
    assert api_key.secret_hash == api_key_hash(secret)
    assert api_key.workspace == workspace and api_key.scopes == ["social:read"]
    assert api_key.created_by == staff
    assert secret not in again and secret not in change
    assert AuditEvent.objects.filter(
        action="api_key.created", actor_id=staff.public_id, subject_ids=[api_key.public_id]
    ).exists()


def test_revoking_api_keys_goes_through_the_service(staff_client, staff, user):
    api_key, _secret = api_key_for(personal_workspace(user))

    response = staff_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_selected", "_selected_action": [str(api_key.pk)]},
        follow=True,
    )

    api_key.refresh_from_db()
    assert "Revoked 1 API key." in response.content.decode()
    assert api_key.revoked_at is not None
    assert AuditEvent.objects.filter(action="api_key.revoked", actor_id=staff.public_id).exists()


@pytest.mark.parametrize("model", ["user", "workspace"])
def test_deleting_a_user_or_workspace_with_accounts_is_refused(staff_client, model):
    account = account_with_history(
        UserFactory(), Platform.X, queued=1, published=1, snapshots=2, inbox=2
    )
    target = account.user if model == "user" else account.workspace
    url = f"/admin/accounts/{model}/{target.pk}/delete/"

    page = staff_client.get(url)
    posted = staff_client.post(url, {"post": "yes"})
    bulk = staff_client.post(
        f"/admin/accounts/{model}/",
        {"action": "delete_selected", "_selected_action": [str(target.pk)], "post": "yes"},
    )

    html = page.content.decode()
    assert "Disconnect them first" in html
    assert f"Social account {account} (connected; disconnect it first)" in html
    assert "have permission to delete" not in html
    assert posted.status_code == 200 and bulk.status_code == 200
    assert type(target).objects.filter(pk=target.pk).exists()
    assert SocialAccount.objects.filter(pk=account.pk).exists()


@pytest.mark.parametrize("model", ["user", "workspace"])
def test_a_user_or_workspace_without_accounts_can_be_deleted(staff_client, user, model):
    target = user if model == "user" else shared_workspace(user, name="Empty team")

    page = staff_client.get(f"/admin/accounts/{model}/{target.pk}/delete/").content.decode()
    staff_client.post(f"/admin/accounts/{model}/{target.pk}/delete/", {"post": "yes"})

    assert not type(target).objects.filter(pk=target.pk).exists()
    assert AuditEvent.objects.filter(action=f"{model}.deleted").exists()
    if model == "user":  # the personal workspace goes with the user, and the page says so
        assert "Personal workspace: " in page


def test_an_offboarded_workspace_can_be_deleted_with_its_keys_leases_and_posts(staff_client, staff):
    # given: a workspace with a key, a webhook, a lease, posts and a kill switch, offboarded
    owner = UserFactory()
    team = shared_workspace(owner, name="Leaving agency")
    account = account_in(team, owner, Platform.X, queued=1, published=1, snapshots=1, inbox=1)
    LeaseFactory(social_account=account)
    api_key_for(team)
    KillSwitch.objects.create(scope=KillSwitch.Scope.WORKSPACE, workspace=team)
    webhook_endpoint_create(
        workspace=team, url="https://hooks.example.com/in", events=[], created_by=owner
    )
    staff_client.post(
        "/admin/accounts/workspace/",
        {"action": "offboard_workspace", "_selected_action": [str(team.pk)], "apply": "yes"},
    )

    # when
    page = staff_client.get(f"/admin/accounts/workspace/{team.pk}/delete/").content.decode()
    staff_client.post(f"/admin/accounts/workspace/{team.pk}/delete/", {"post": "yes"})

    # then: the confirmation listed what goes with it, and it is gone; the audit trail stays
    assert "have permission to delete" not in page
    assert "Leaving agency" in page
    assert not Workspace.objects.filter(pk=team.pk).exists()
    deleted = AuditEvent.objects.get(action="workspace.deleted", actor_id=staff.public_id)
    assert (deleted.data["apiKeys"], deleted.data["leases"], deleted.data["webhookEndpoints"]) == (
        1,
        1,
        1,
    )


def test_disconnect_action_previews_then_disconnects(staff_client, staff):
    creator = UserFactory()
    first = account_with_history(
        creator, Platform.INSTAGRAM, queued=2, published=1, snapshots=3, inbox=4
    )
    second = account_with_history(creator, Platform.X, queued=1, published=0, snapshots=2, inbox=0)
    kept = account_with_history(
        creator, Platform.YOUTUBE, queued=1, published=0, snapshots=1, inbox=1
    )
    selection = {
        "action": "disconnect_selected",
        "_selected_action": [str(first.pk), str(second.pk)],
    }

    preview = staff_client.post("/admin/accounts/socialaccount/", selection)
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "Disconnect social accounts?" in html
    assert first.platform_username in html and second.platform_username in html
    assert creator.email in html
    assert re.search(r'class="canceled">3<', html)  # 2 + 1 queued targets in the totals
    assert re.search(r'class="snapshots">5<', html)
    assert SocialAccount.objects.filter(user=creator).count() == 3

    done = staff_client.post(
        "/admin/accounts/socialaccount/", {**selection, "apply": "yes"}, follow=True
    )

    # 3 targets canceled; purged 2 metrics + 5 snapshots + 4 inbox items.
    assert "Disconnected 2 accounts: 3 scheduled posts canceled, 11 cached rows purged." in (
        done.content.decode()
    )
    assert list(SocialAccount.objects.filter(user=creator)) == [kept]
    assert (
        PostTarget.objects.filter(
            social_account=None, status="canceled", canceled_reason="account_disconnected"
        ).count()
        == 3
    )
    audit = AuditEvent.objects.filter(action="social_account.disconnected")
    assert {(e.actor_id, e.data["reason"]) for e in audit} == {
        (staff.public_id, "revoked_by_staff")
    }
    assert audit.count() == 2
    assert followers_of(creator) == 500


def test_offboard_action_disconnects_every_account_of_the_workspace(staff_client, staff):
    owner = UserFactory()
    team = shared_workspace(owner, name="Acme agency")
    inside = account_with_history(
        owner, Platform.INSTAGRAM, queued=1, published=0, snapshots=2, inbox=1
    )
    SocialAccount.objects.filter(pk=inside.pk).update(workspace=team)
    outside = account_with_history(owner, Platform.X, queued=1, published=0, snapshots=0, inbox=0)
    selection = {"action": "offboard_workspace", "_selected_action": [str(team.pk)]}

    preview = staff_client.post("/admin/accounts/workspace/", selection)
    assert "Offboard “Acme agency”?" in preview.content.decode()
    assert '<span id="offboard-leases">1</span> open billing lease on them' in (
        preview.content.decode()
    )
    assert inside.platform_username in preview.content.decode()
    assert outside.platform_username not in preview.content.decode()
    assert SocialAccount.objects.filter(pk=inside.pk).exists()

    done = staff_client.post(
        "/admin/accounts/workspace/", {**selection, "apply": "yes"}, follow=True
    )

    html = done.content.decode()
    assert "Offboarded “Acme agency”." in html
    assert (
        "Disconnected 1 account: 1 scheduled post canceled, 4 cached rows purged, "
        "1 lease released." in html
    )
    assert not SocialAccount.objects.filter(pk=inside.pk).exists()
    assert SocialAccount.objects.filter(pk=outside.pk).exists()
    event = AuditEvent.objects.get(action="social_account.disconnected")
    assert (event.actor_id, event.data["reason"]) == (staff.public_id, "offboarding")


def test_offboard_action_takes_one_workspace_at_a_time(staff_client, account, user):
    other = shared_workspace(user, name="Other")

    response = staff_client.post(
        "/admin/accounts/workspace/",
        {
            "action": "offboard_workspace",
            "_selected_action": [str(account.workspace.pk), str(other.pk)],
            "apply": "yes",
        },
        follow=True,
    )

    assert "Offboard one workspace at a time" in response.content.decode()
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_staff_without_the_delete_permission_cannot_disconnect(client, account):
    clerk = User.objects.create_user("clerk@example.com", STAFF_PASSWORD, is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_socialaccount"))
    client.force_login(clerk)

    changelist = client.get("/admin/accounts/socialaccount/")
    attempt = client.post(
        "/admin/accounts/socialaccount/",
        {"action": "disconnect_selected", "_selected_action": [str(account.pk)], "apply": "yes"},
    )

    assert changelist.status_code == 200
    assert "disconnect_selected" not in changelist.content.decode()
    assert attempt.status_code in (200, 302)
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_a_failed_disconnect_is_reported_as_an_error(staff_client, monkeypatch):
    creator = UserFactory()
    broken = account_with_history(
        creator, Platform.INSTAGRAM, queued=1, published=0, snapshots=0, inbox=0
    )
    fine = account_with_history(creator, Platform.X, queued=1, published=0, snapshots=0, inbox=0)
    real_disconnect = offboarding.social_account_disconnect

    def failing_for_broken(*, account, dry_run=False, **kwargs):
        if account.pk == broken.pk and not dry_run:
            raise RuntimeError("platform unreachable")
        return real_disconnect(account=account, dry_run=dry_run, **kwargs)

    monkeypatch.setattr(offboarding, "social_account_disconnect", failing_for_broken)

    done = staff_client.post(
        "/admin/accounts/socialaccount/",
        {
            "action": "disconnect_selected",
            "_selected_action": [str(broken.pk), str(fine.pk)],
            "apply": "yes",
        },
        follow=True,
    )

    html = done.content.decode()
    assert "Disconnected 1 account: 1 scheduled post canceled, 1 cached row purged." in html
    assert re.search(
        r'class="error">Could not disconnect instagram account [^<]*platform unreachable', html
    )
    assert list(SocialAccount.objects.filter(user=creator)) == [broken]


def test_a_selection_over_the_inline_limit_is_disconnected_by_a_worker(
    staff_client, staff, settings, django_capture_on_commit_callbacks
):
    # given: runs of more than one account go to the background
    settings.ADMIN_INLINE_DISCONNECT_MAX = 1
    creator = UserFactory()
    accounts = [
        account_with_history(creator, platform, queued=1, published=0, snapshots=1, inbox=0)
        for platform in (Platform.INSTAGRAM, Platform.X)
    ]
    selection = {
        "action": "disconnect_selected",
        "_selected_action": [str(account.pk) for account in accounts],
    }

    # when: the preview, then the confirmation
    preview = staff_client.post("/admin/accounts/socialaccount/", selection).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = staff_client.post(
            "/admin/accounts/socialaccount/", {**selection, "apply": "yes"}, follow=True
        )
        still_there_after_the_request = SocialAccount.objects.filter(user=creator).count()

    # then: the preview said so, the request only queued the run, and the worker (eager
    # here) disconnected both as the staff user
    assert 'id="disconnect-background"' in preview
    assert (
        "Disconnecting the selected accounts (2 accounts) in the background."
        in done.content.decode()
    )
    assert still_there_after_the_request == 2
    assert not SocialAccount.objects.filter(user=creator).exists()
    audit = AuditEvent.objects.filter(action="social_account.disconnected")
    assert {(e.actor_id, e.data["reason"]) for e in audit} == {
        (staff.public_id, "revoked_by_staff")
    }
    assert audit.count() == 2


def test_a_workspace_over_the_inline_limit_is_offboarded_by_a_worker(
    staff_client, staff, settings, django_capture_on_commit_callbacks
):
    # given
    settings.ADMIN_INLINE_DISCONNECT_MAX = 1
    owner = UserFactory()
    team = shared_workspace(owner, name="Big agency")
    for platform in (Platform.INSTAGRAM, Platform.X):
        account = account_with_history(owner, platform, queued=1, published=0, snapshots=0, inbox=0)
        SocialAccount.objects.filter(pk=account.pk).update(workspace=team)
    selection = {"action": "offboard_workspace", "_selected_action": [str(team.pk)]}

    # when
    with django_capture_on_commit_callbacks(execute=True):
        done = staff_client.post(
            "/admin/accounts/workspace/", {**selection, "apply": "yes"}, follow=True
        )

    # then
    assert "Offboarding “Big agency” (2 accounts) in the background." in (done.content.decode())
    assert not SocialAccount.objects.filter(workspace=team).exists()
    summary = AuditEvent.objects.get(action="workspace.offboarded")
    assert (summary.actor_id, summary.data["disconnected"]) == (staff.public_id, 2)


@pytest.mark.django_db(transaction=True)  # no test transaction: the task is sent at once
def test_a_background_run_the_broker_cannot_take_says_so_and_changes_nothing(
    staff_client, settings
):
    # given: a workspace large enough for the background, and Redis (the broker) down
    settings.ADMIN_INLINE_DISCONNECT_MAX = 1
    owner = UserFactory()
    team = shared_workspace(owner, name="Big agency")
    for platform in (Platform.INSTAGRAM, Platform.X):
        account = account_with_history(owner, platform, queued=1, published=0, snapshots=0, inbox=0)
        SocialAccount.objects.filter(pk=account.pk).update(workspace=team)
    selection = {"action": "offboard_workspace", "_selected_action": [str(team.pk)], "apply": "y"}

    # when
    with broker_unreachable():
        done = staff_client.post("/admin/accounts/workspace/", selection, follow=True)

    # then: an error message, not a server error, and not a claim that it runs
    assert done.status_code == 200
    html = done.content.decode()
    assert (
        "Offboarding “Big agency” could not be started: the task queue is unreachable. "
        "Nothing was changed" in html
    )
    assert "in the background" not in html
    assert SocialAccount.objects.filter(workspace=team).count() == 2
    assert not AuditEvent.objects.filter(action__endswith="offboarded").exists()

    # and once it is back, the same confirmation runs (eagerly here)
    staff_client.post("/admin/accounts/workspace/", selection, follow=True)
    assert not SocialAccount.objects.filter(workspace=team).exists()


def test_the_preview_lists_the_first_rows_and_counts_all_in_the_totals(staff_client, monkeypatch):
    # given: a preview of at most one row
    monkeypatch.setattr("accounts.admin.disconnect.PREVIEW_ROWS", 1)
    creator = UserFactory()
    accounts = [
        account_with_history(creator, platform, queued=2, published=0, snapshots=0, inbox=0)
        for platform in (Platform.INSTAGRAM, Platform.X, Platform.YOUTUBE)
    ]

    # when
    preview = staff_client.post(
        "/admin/accounts/socialaccount/",
        {
            "action": "disconnect_selected",
            "_selected_action": [str(account.pk) for account in accounts],
        },
    ).content.decode()

    # then
    assert preview.count("<tr data-account=") == 1
    assert "… and 2 more accounts (counted in the totals)." in preview
    assert re.search(r'<td class="canceled">6</td>', preview)
    assert SocialAccount.objects.filter(user=creator).count() == 3


def test_a_workspace_links_to_its_social_accounts(staff_client):
    # given: two workspaces with accounts
    owner = UserFactory()
    team = shared_workspace(owner, name="Linked agency")
    inside = account_with_history(owner, Platform.X, queued=0, published=0, snapshots=0, inbox=0)
    SocialAccount.objects.filter(pk=inside.pk).update(workspace=team)
    outside = account_with_history(
        owner, Platform.YOUTUBE, queued=0, published=0, snapshots=0, inbox=0
    )

    # when: staff follow the count on the workspace list
    workspaces = staff_client.get("/admin/accounts/workspace/").content.decode()
    link = re.search(rf'<a href="([^"]+\?workspace={team.pk})">1</a>', workspaces)
    accounts = staff_client.get(link.group(1).replace("&amp;", "&")).content.decode()

    # then: the list shows that workspace's accounts only, and says so in the filters
    assert f'value="{inside.pk}"' in accounts
    assert f'value="{outside.pk}"' not in accounts
    assert re.search(r'<li class="selected">\s*<a href="[^"]*">Linked agency</a>', accounts)
    for wrong in ("nope", str(uuid.uuid4())):
        listed = staff_client.get(f"/admin/accounts/socialaccount/?workspace={wrong}")
        assert listed.status_code == 200
        assert "action-select" not in listed.content.decode()


@pytest.mark.parametrize("page", ["socialaccount", "workspace", "user"])
def test_the_api_id_is_shown_and_finds_a_row_in_the_search(staff_client, page):
    # given: two creators with an account each
    first = account_with_history(
        UserFactory(), Platform.X, queued=0, published=0, snapshots=0, inbox=0
    )
    second = account_with_history(
        UserFactory(), Platform.X, queued=0, published=0, snapshots=0, inbox=0
    )
    wanted, other = {
        "socialaccount": (first, second),
        "workspace": (first.workspace, second.workspace),
        "user": (first.user, second.user),
    }[page]

    # when: the id an operator has (from the API or a command) is pasted into the search
    found = staff_client.get(f"/admin/accounts/{page}/", {"q": f"  {wanted.public_id} "})
    malformed = staff_client.get(f"/admin/accounts/{page}/", {"q": f"{wanted.public_id}x"})

    # then
    html = found.content.decode()
    assert f'value="{wanted.pk}"' in html and f'value="{other.pk}"' not in html
    shown_on = staff_client.get(
        f"/admin/accounts/{page}/"
        if page != "socialaccount"
        else f"/admin/accounts/socialaccount/{wanted.pk}/change/"
    )
    assert wanted.public_id in shown_on.content.decode()
    assert malformed.status_code == 200


def test_cancel_selected_posts_cancels_the_queued_ones_through_the_service(staff_client, staff):
    # given: a queued post and a published one
    creator = UserFactory()
    account = account_with_history(creator, Platform.X, queued=1, published=1, snapshots=0, inbox=0)
    posts = list(ScheduledPost.objects.filter(targets__social_account=account))
    queued = next(post for post in posts if post.status == ScheduledPost.Status.QUEUED)
    published = next(post for post in posts if post.status == ScheduledPost.Status.PUBLISHED)

    # when: both are selected
    response = staff_client.post(
        "/admin/scheduling/scheduledpost/",
        {"action": "cancel_selected", "_selected_action": [str(queued.pk), str(published.pk)]},
        follow=True,
    )

    # then: only the queued one was canceled, as the staff user
    assert "Canceled 1 post." in response.content.decode()
    queued.refresh_from_db()
    published.refresh_from_db()
    assert (queued.status, published.status) == ("canceled", "published")
    assert (
        AuditEvent.objects.filter(
            action="scheduled_post.canceled", actor_id=staff.public_id
        ).count()
        == 1
    )


def test_enable_selected_endpoints_reenables_a_disabled_one(staff_client, staff, user):
    # given: an endpoint disabled after failures
    endpoint, _secret = webhook_endpoint_create(
        workspace=personal_workspace(user),
        url="https://hooks.example.com/in",
        events=["account.disconnected"],
        created_by=user,
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        active=False, consecutive_failures=5, disabled_at=timezone.now()
    )

    # when
    response = staff_client.post(
        "/admin/accounts/webhookendpoint/",
        {"action": "enable_selected", "_selected_action": [str(endpoint.pk)]},
        follow=True,
    )

    # then
    assert "Enabled 1 endpoint." in response.content.decode()
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures) == (True, 0)


def test_toggling_a_kill_switch_in_the_list_applies_at_once_and_is_audited(
    staff_client, staff, user
):
    # given: a partner key, and its workspace's switch off
    workspace = personal_workspace(user)
    _api_key, secret = api_key_for(workspace)
    switch = KillSwitch.objects.create(scope=KillSwitch.Scope.WORKSPACE, workspace=workspace)
    partner = f"Bearer {secret}"
    assert (
        staff_client.get("/api/v1/social-accounts", HTTP_AUTHORIZATION=partner).status_code == 200
    )

    # when: staff tick "enabled" in the list and save
    response = staff_client.post(
        "/admin/accounts/killswitch/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(switch.pk),
            "form-0-enabled": "on",
            "_save": "Save",
        },
        follow=True,
    )

    # then: the partner API answers 503 on the next request, and the change is audited
    assert response.status_code == 200
    refused = staff_client.get("/api/v1/social-accounts", HTTP_AUTHORIZATION=partner)
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "KILL_SWITCH")
    event = AuditEvent.objects.get(action="kill_switch.saved")
    assert (event.actor_id, event.workspace_id, event.data["enabled"]) == (
        staff.public_id,
        workspace.public_id,
        True,
    )


def test_a_kill_switch_with_a_target_that_does_not_match_its_scope_is_a_form_error(staff_client):
    # when: a global switch naming a workspace
    response = staff_client.post(
        "/admin/accounts/killswitch/add/",
        {
            "scope": "global",
            "workspace": str(personal_workspace(UserFactory()).pk),
            "enabled": "on",
        },
    )

    # then: the form is shown again with the error; nothing saved
    assert response.status_code == 200
    assert "a workspace switch a workspace only, and the global switch neither" in (
        response.content.decode()
    )
    assert "kill_switch_target_matches_scope" not in response.content.decode()
    assert not KillSwitch.objects.exists()


@pytest.mark.parametrize(
    ("page", "fields"),
    [
        ("apikey", ["workspace"]),
        ("killswitch", ["api_key", "workspace"]),
        ("membership", ["user", "workspace"]),
    ],
)
def test_forms_find_workspaces_keys_and_users_by_name(staff_client, page, fields):
    # when
    html = staff_client.get(f"/admin/accounts/{page}/add/").content.decode()

    # then: a search-as-you-type select, not a raw id box
    for field in fields:
        assert re.search(rf'<select name="{field}"[^>]*data-ajax--url', html), field


def test_confirming_twice_says_the_accounts_are_already_disconnected(staff_client):
    # given: a confirmed disconnect of two accounts
    creator = UserFactory()
    accounts = [
        account_with_history(creator, platform, queued=1, published=0, snapshots=0, inbox=0)
        for platform in (Platform.INSTAGRAM, Platform.X)
    ]
    confirmation = {
        "action": "disconnect_selected",
        "_selected_action": [str(account.pk) for account in accounts],
        "apply": "yes",
    }
    staff_client.post("/admin/accounts/socialaccount/", confirmation)
    audited = AuditEvent.objects.count()

    # when: the same confirmation is posted again
    again = staff_client.post("/admin/accounts/socialaccount/", confirmation, follow=True)

    # then
    html = again.content.decode()
    assert "2 selected accounts were already disconnected." in html
    assert "Disconnected 0" not in html
    assert AuditEvent.objects.count() == audited


def test_offboard_user_action_disconnects_their_accounts_in_every_workspace(staff_client, staff):
    # given: a creator with an account in their own workspace and one in a team's
    creator = UserFactory()
    team = shared_workspace(UserFactory(), name="Their agency")
    own = account_with_history(creator, Platform.X, queued=1, published=0, snapshots=1, inbox=0)
    in_team = account_in(team, creator, Platform.YOUTUBE, queued=0, snapshots=0, inbox=0)
    someone_else = account_with_history(
        UserFactory(), Platform.X, queued=0, published=0, snapshots=0, inbox=0
    )
    selection = {"action": "offboard_user", "_selected_action": [str(creator.pk)]}

    # when
    preview = staff_client.post("/admin/accounts/user/", selection).content.decode()
    done = staff_client.post(
        "/admin/accounts/user/", {**selection, "apply": "yes"}, follow=True
    ).content.decode()

    # then
    assert f"Offboard “{creator.email}”?" in preview
    assert "every social account this user connected, in every workspace" in preview
    assert preview.count("<tr data-account=") == 2
    assert f"Offboarded “{creator.email}”. Disconnected 2 accounts" in done
    assert not SocialAccount.objects.filter(pk__in=[own.pk, in_team.pk]).exists()
    assert SocialAccount.objects.filter(pk=someone_else.pk).exists()
    summary = AuditEvent.objects.get(action="user.offboarded")
    assert (summary.actor_id, summary.subject_ids) == (staff.public_id, [creator.public_id])


def test_membership_changes_in_the_admin_are_audited(staff_client, staff):
    # given: a team with its owner
    owner, newcomer = UserFactory(), UserFactory()
    team = shared_workspace(owner, name="Audited agency")
    owner_membership = Membership.objects.get(workspace=team, user=owner)
    inline = {
        "name": "Audited agency",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": str(owner_membership.pk),
        "memberships-0-workspace": str(team.pk),
        "memberships-0-user": str(owner.pk),
        "memberships-0-role": "owner",
        "memberships-1-workspace": str(team.pk),
        "memberships-1-user": str(newcomer.pk),
        "memberships-1-role": "member",
        "_save": "Save",
    }

    # when: a member is added on the workspace's page, then removed on the memberships page
    added = staff_client.post(f"/admin/accounts/workspace/{team.pk}/change/", inline)
    membership = Membership.objects.get(workspace=team, user=newcomer)
    staff_client.post(f"/admin/accounts/membership/{membership.pk}/delete/", {"post": "yes"})

    # then
    assert added.status_code == 302
    assert not Membership.objects.filter(workspace=team, user=newcomer).exists()
    events = list(
        AuditEvent.objects.filter(workspace_id=team.public_id, actor_id=staff.public_id)
        .order_by("created_at", "id")
        .values_list("action", "data")
    )
    assert ("workspace.member_saved", {"role": "member"}) in events
    assert ("workspace.member_removed", {"role": "member"}) in events
    assert ("workspace.saved", {"name": "Audited agency"}) in events


def test_staff_create_a_workspace_and_a_membership_with_the_visible_fields(staff_client, staff):
    # when: only what the add forms show is filled in
    created = staff_client.post(
        "/admin/accounts/workspace/add/",
        {"name": "Staff-made", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"},
    )
    workspace = Workspace.objects.get(name="Staff-made")
    member = UserFactory()
    joined = staff_client.post(
        "/admin/accounts/membership/add/",
        {"workspace": str(workspace.pk), "user": str(member.pk), "role": "admin"},
    )

    # then
    assert (created.status_code, joined.status_code) == (302, 302)
    assert Membership.objects.get(workspace=workspace, user=member).role == "admin"
    assert set(
        AuditEvent.objects.filter(actor_id=staff.public_id).values_list("action", flat=True)
    ) == {"workspace.saved", "workspace.member_saved"}


def test_a_preview_reloaded_after_the_run_says_the_accounts_are_gone(staff_client):
    # given: two accounts disconnected from a preview
    creator = UserFactory()
    accounts = [
        account_with_history(creator, platform, queued=0, published=0, snapshots=0, inbox=0)
        for platform in (Platform.INSTAGRAM, Platform.X)
    ]
    selection = {
        "action": "disconnect_selected",
        "_selected_action": [str(account.pk) for account in accounts],
    }
    staff_client.post("/admin/accounts/socialaccount/", {**selection, "apply": "yes"})

    # when: the browser posts the preview's request again (back, reload)
    again = staff_client.post("/admin/accounts/socialaccount/", selection, follow=True)

    # then: no preview offering "disconnect 0 accounts", a warning instead
    html = again.content.decode()
    assert "2 selected accounts were already disconnected." in html
    assert "Yes, disconnect" not in html


def test_offboarding_a_workspace_twice_says_there_is_nothing_left(staff_client):
    # given: a workspace offboarded once
    owner = UserFactory()
    team = shared_workspace(owner, name="Twice agency")
    account_in(team, owner, Platform.X, queued=0, snapshots=0, inbox=0)
    confirmation = {
        "action": "offboard_workspace",
        "_selected_action": [str(team.pk)],
        "apply": "yes",
    }
    staff_client.post("/admin/accounts/workspace/", confirmation)
    audited = AuditEvent.objects.count()

    # when: the same confirmation again, and a new preview
    again = staff_client.post("/admin/accounts/workspace/", confirmation, follow=True)
    preview = staff_client.post(
        "/admin/accounts/workspace/",
        {"action": "offboard_workspace", "_selected_action": [str(team.pk)]},
        follow=True,
    )

    # then
    for response in (again, preview):
        html = response.content.decode()
        assert "“Twice agency” has no connected social accounts: nothing to offboard." in html
        assert "Disconnected 0" not in html and "Yes, offboard" not in html
    assert AuditEvent.objects.count() == audited


def test_a_workspace_or_user_id_narrows_the_social_account_list(staff_client):
    # given: two creators, one of them with an account in a team too
    first, second = UserFactory(), UserFactory()
    team = shared_workspace(first, name="Narrow agency")
    at_home = account_with_history(first, Platform.X, queued=0, published=0, snapshots=0, inbox=0)
    in_team = account_in(team, first, Platform.YOUTUBE)
    other = account_with_history(second, Platform.X, queued=0, published=0, snapshots=0, inbox=0)

    def listed(**query) -> set[str]:
        html = staff_client.get("/admin/accounts/socialaccount/", query).content.decode()
        return {
            str(account.pk)
            for account in (at_home, in_team, other)
            if f'value="{account.pk}"' in html
        }

    # then: pasted into the search, or given as the workspace filter with its prefix
    assert listed(q=team.public_id) == {str(in_team.pk)}
    assert listed(q=first.public_id) == {str(at_home.pk), str(in_team.pk)}
    assert listed(workspace=team.public_id) == {str(in_team.pk)}


def test_a_users_permissions_can_be_set_on_their_page(staff_client, user):
    html = staff_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()

    assert 'name="user_permissions"' in html


@pytest.mark.parametrize("page", ["killswitch", "webhookendpoint"])
def test_delete_selected_goes_through_the_audited_service(staff_client, staff, user, page):
    # given
    workspace = personal_workspace(user)
    if page == "killswitch":
        row = KillSwitch.objects.create(scope=KillSwitch.Scope.WORKSPACE, workspace=workspace)
        action = "kill_switch.deleted"
    else:
        row, _secret = webhook_endpoint_create(
            workspace=workspace, url="https://hooks.example.com/in", events=[], created_by=user
        )
        action = "webhook.deleted"

    # when
    staff_client.post(
        f"/admin/accounts/{page}/",
        {"action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes"},
    )

    # then
    assert not type(row).objects.filter(pk=row.pk).exists()
    assert AuditEvent.objects.filter(action=action, actor_id=staff.public_id).exists()


# Sign-in ------------------------------------------------------------------------------------


def _sign_in(client, password: str, address: str = "203.0.113.7"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "staff@example.com", "password": password},
        REMOTE_ADDR=address,
    )


def test_sign_in_attempts_past_the_limit_get_429_even_with_the_right_password(
    client, staff, settings, steady_clock
):
    settings.ADMIN_LOGIN_RATELIMIT = "3/m"
    for _ in range(3):
        assert _sign_in(client, "guess").status_code == 200  # the form again, with an error

    refused = _sign_in(client, STAFF_PASSWORD)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/login/", REMOTE_ADDR="203.0.113.7").status_code == 200
    # another address has its own budget
    assert _sign_in(client, STAFF_PASSWORD, address="198.51.100.9").status_code == 302


def test_sign_in_with_the_rate_limit_store_down_is_refused(client, staff, cache_down):
    refused = _sign_in(client, STAFF_PASSWORD)

    assert refused.status_code == 503
    assert refused["Retry-After"] == "5"
    assert "_auth_user_id" not in client.session
