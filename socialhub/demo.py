"""Demo data for the embedded first run: a creator with sandbox accounts and history, and
an agency workspace the creator owns, with a teammate whose leased TikTok account is in it.

Only for development (the command refuses with DEBUG off). Accounts are connected through
the same service the API uses, with real sandbox tokens, so refresh, publish and revoke
work against the local sandbox afterwards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import InboxItem, Lease, Membership, MetricsSnapshot, Platform, User, Workspace
from accounts.providers import Profile, TokenSet
from accounts.services.connect import social_account_store_authorization
from accounts.services.sandbox import sandbox_account_get_or_create, sandbox_grant_issue
from accounts.services.users import user_register
from accounts.services.workspaces import workspace_create
from scheduling.models import PostTarget, ScheduledPost

DEMO_EMAIL = "demo@socialhub.local"
DEMO_PASSWORD = "violet-canyon-express"
STAFF_EMAIL = "staff@socialhub.local"
STAFF_PASSWORD = "harbor-lantern-orbit"
TEAMMATE_EMAIL = "teammate@socialhub.local"
TEAMMATE_PASSWORD = "amber-meadow-signal"
AGENCY_NAME = "Demo Agency"

DEMO_ACCOUNTS = [
    (Platform.INSTAGRAM, "demo_creator", 12_400),
    (Platform.X, "democreator", 3_150),
    (Platform.YOUTUBE, "DemoCreatorTV", 48_900),
]


@dataclass(frozen=True)
class DemoSummary:
    created: bool
    email: str
    password: str
    staff_email: str
    staff_password: str
    teammate_email: str = TEAMMATE_EMAIL
    teammate_password: str = TEAMMATE_PASSWORD


def sandbox_account_connect(
    user: User, platform: str, handle: str, followers: int, workspace: Workspace | None = None
):
    """Connect a sandbox account with real tokens, skipping the browser step (demo, tests)."""
    upstream = sandbox_account_get_or_create(platform=platform, handle=handle, followers=followers)
    tokens = sandbox_grant_issue(platform=platform, handle=handle)
    return social_account_store_authorization(
        user=user,
        platform=platform,
        tokens=TokenSet(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=timezone.now() + dt.timedelta(seconds=tokens.expires_in),
            scopes=tokens.scope.split(),
        ),
        profile=Profile(
            platform_user_id=upstream.upstream_id,
            username=handle,
            display_name=handle.replace("_", " ").title(),
            account_type="creator",
            follower_count=followers,
            following_count=followers // 10,
        ),
        workspace=workspace,
    ).account


def demo_data_seed() -> DemoSummary:
    """Create the demo creator once; a second call changes nothing."""
    summary = DemoSummary(
        created=False,
        email=DEMO_EMAIL,
        password=DEMO_PASSWORD,
        staff_email=STAFF_EMAIL,
        staff_password=STAFF_PASSWORD,
    )
    if User.objects.filter(email=DEMO_EMAIL).exists():
        return summary
    with transaction.atomic():
        user = user_register(email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo Creator")
        if not User.objects.filter(email=STAFF_EMAIL).exists():
            staff = user_register(email=STAFF_EMAIL, password=STAFF_PASSWORD, name="Staff")
            User.objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True)
        today = timezone.now().date()
        now = timezone.now()
        accounts = [sandbox_account_connect(user, *spec) for spec in DEMO_ACCOUNTS]
        for account, (_platform, _handle, followers) in zip(accounts, DEMO_ACCOUNTS, strict=True):
            MetricsSnapshot.objects.bulk_create(
                MetricsSnapshot(
                    social_account=account,
                    day=today - dt.timedelta(days=days_ago),
                    follower_count=followers - days_ago * 7,
                )
                for days_ago in range(30)
            )
            InboxItem.objects.bulk_create(
                InboxItem(
                    social_account=account,
                    platform_item_id=f"demo-{account.platform}-{n}",
                    author_handle=f"fan{n}",
                    text=f"Love this, part {n}!",
                )
                for n in range(5)
            )
        workspace = accounts[0].workspace
        published = ScheduledPost.objects.create(
            workspace=workspace,
            author=user,
            text="Our first post through socialhub",
            scheduled_at=now - dt.timedelta(days=2),
            status=ScheduledPost.Status.PUBLISHED,
        )
        queued = ScheduledPost.objects.create(
            workspace=workspace,
            author=user,
            text="Launch day is coming",
            scheduled_at=now + dt.timedelta(days=1),
        )
        for account in accounts:
            PostTarget.objects.create(
                post=published,
                social_account=account,
                account_platform=account.platform,
                account_handle=account.platform_username,
                status=PostTarget.Status.PUBLISHED,
                platform_post_id=f"demo-{account.platform}-1",
                published_at=now - dt.timedelta(days=2),
            )
            PostTarget.objects.create(
                post=queued,
                social_account=account,
                account_platform=account.platform,
                account_handle=account.platform_username,
            )
        agency = workspace_create(user=user, name=AGENCY_NAME).workspace
        teammate = user_register(
            email=TEAMMATE_EMAIL, password=TEAMMATE_PASSWORD, name="Demo Teammate"
        )
        Membership.objects.create(workspace=agency, user=teammate, role=Membership.Role.MEMBER)
        leased = sandbox_account_connect(
            teammate, Platform.TIKTOK_BUSINESS, "agency_tiktok", 7_800, agency
        )
        Lease.objects.create(
            social_account=leased,
            workspace=agency,
            account_public_id=leased.public_id,
            price_cents=4_900,
        )
    return DemoSummary(
        created=True,
        email=DEMO_EMAIL,
        password=DEMO_PASSWORD,
        staff_email=STAFF_EMAIL,
        staff_password=STAFF_PASSWORD,
    )
