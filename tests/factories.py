"""factory_boy factories for the domain model."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from accounts.models import (
    ApiKey,
    InboxItem,
    Lease,
    Membership,
    MetricsSnapshot,
    Platform,
    SocialAccount,
    SocialMetrics,
    User,
    Workspace,
)
from accounts.services.api_keys import api_key_create
from accounts.services.users import user_register
from accounts.services.workspaces import workspace_create
from scheduling.models import PostTarget, ScheduledPost
from socialhub.demo import sandbox_account_connect

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.Factory):
    """Goes through ``user_register``: user, personal workspace, owner membership, profile."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"creator{n}@example.com")
    name = factory.Sequence(lambda n: f"Creator {n}")
    password = DEFAULT_PASSWORD

    @classmethod
    def _create(cls, model_class, *, email, name, password):
        return user_register(email=email, password=password, name=name)

    @classmethod
    def _build(cls, model_class, **kwargs):
        raise NotImplementedError("users are always created through user_register")


def personal_workspace(user: User) -> Workspace:
    return Workspace.objects.get(is_personal=True, memberships__user=user)


def shared_workspace(owner: User, name: str = "Team") -> Workspace:
    """A non-personal workspace owned by ``owner`` (through ``workspace_create``)."""
    return workspace_create(user=owner, name=name).workspace


def add_member(workspace: Workspace, user: User, role: str = Membership.Role.MEMBER) -> Membership:
    return Membership.objects.create(workspace=workspace, user=user, role=role)


def member_of(workspace: Workspace, role: str) -> User:
    """A new user added to ``workspace`` with ``role``."""
    someone = UserFactory()
    add_member(workspace, someone, role)
    return someone


ALL_SCOPES = tuple(ApiKey.Scope.values)


def api_key_for(
    workspace: Workspace, *, scopes=ALL_SCOPES, name: str = "integration", created_by=None
) -> tuple[ApiKey, str]:
    """A key of ``workspace`` through ``api_key_create``; returns ``(ApiKey, secret)``."""
    if created_by is None:
        created_by = (
            Membership.objects.filter(workspace=workspace, role=Membership.Role.OWNER)
            .select_related("user")
            .first()
            .user
        )
    return api_key_create(
        workspace=workspace, name=name, scopes=list(scopes), created_by=created_by
    )


class SocialAccountFactory(factory.django.DjangoModelFactory):
    """An active account with tokens; pass ``followers=N`` to also create its metrics row."""

    class Meta:
        model = SocialAccount
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    workspace = factory.LazyAttribute(lambda o: personal_workspace(o.user))
    platform = Platform.INSTAGRAM
    platform_user_id = factory.Sequence(lambda n: f"upstream-{n}")
    platform_username = factory.Sequence(lambda n: f"handle{n}")
    display_name = factory.LazyAttribute(lambda o: (o.platform_username or "").title() or None)
    access_token = factory.Sequence(lambda n: f"access-token-secret-{n}")
    refresh_token = factory.Sequence(lambda n: f"refresh-token-secret-{n}")
    token_expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=1))
    scopes = factory.LazyFunction(lambda: ["profile:read", "posts:write"])

    @factory.post_generation
    def followers(obj, create, extracted, **kwargs):
        if create and extracted is not None:
            SocialMetrics.objects.create(social_account=obj, follower_count=extracted)


class MetricsSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetricsSnapshot

    social_account = factory.SubFactory(SocialAccountFactory)
    day = factory.Sequence(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n))
    follower_count = 100


class InboxItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboxItem

    social_account = factory.SubFactory(SocialAccountFactory)
    platform_item_id = factory.Sequence(lambda n: f"comment-{n}")
    author_handle = "fan"
    text = "Nice post!"


class ScheduledPostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScheduledPost

    workspace = factory.LazyAttribute(lambda o: personal_workspace(o.author))
    author = factory.SubFactory(UserFactory)
    text = "Hello from socialhub"
    scheduled_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=1))


class PostTargetFactory(factory.django.DjangoModelFactory):
    """A target with the account snapshot taken at creation, as the service does."""

    class Meta:
        model = PostTarget

    social_account = factory.SubFactory(SocialAccountFactory)
    post = factory.LazyAttribute(
        lambda o: ScheduledPostFactory(
            author=o.social_account.user, workspace=o.social_account.workspace
        )
    )
    account_platform = factory.LazyAttribute(lambda o: o.social_account.platform)
    account_handle = factory.LazyAttribute(lambda o: o.social_account.platform_username)


class LeaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lease

    social_account = factory.SubFactory(SocialAccountFactory)
    workspace = factory.LazyAttribute(lambda o: o.social_account.workspace)
    account_public_id = factory.LazyAttribute(lambda o: o.social_account.public_id)
    price_cents = 999


def account_with_history(user, platform, *, queued, published, snapshots, inbox):
    """An account (500 followers, with a lease) in ``user``'s personal workspace with
    ``queued`` + ``published`` targets (one post each), ``snapshots`` daily snapshots and
    ``inbox`` cached comments, written in bulk."""
    account = account_in(
        personal_workspace(user),
        user,
        platform,
        followers=500,
        queued=queued,
        published=published,
        snapshots=snapshots,
        inbox=inbox,
    )
    LeaseFactory(social_account=account)
    return account


def sandbox_connected_account(
    user, platform: str, *, handle: str, followers: int = 1000, workspace=None
) -> SocialAccount:
    """An account connected with real sandbox tokens (publish, refresh and revoke work)."""
    return sandbox_account_connect(user, platform, handle, followers, workspace)


def account_in(
    workspace, user, platform, *, followers=100, queued=1, published=1, snapshots=2, inbox=1
):
    """An account of ``user`` in ``workspace`` with metrics, ``queued`` + ``published``
    targets (one post each), ``snapshots`` daily snapshots and ``inbox`` cached comments,
    written in bulk."""
    account = SocialAccountFactory(
        user=user, workspace=workspace, platform=platform, followers=followers
    )
    posts = ScheduledPost.objects.bulk_create(
        ScheduledPost(
            workspace=workspace,
            author=user,
            scheduled_at=timezone.now() + dt.timedelta(hours=1),
            status=ScheduledPost.Status.QUEUED if i < queued else ScheduledPost.Status.PUBLISHED,
        )
        for i in range(queued + published)
    )
    PostTarget.objects.bulk_create(
        PostTarget(
            post=post,
            social_account=account,
            account_platform=account.platform,
            account_handle=account.platform_username,
            status=PostTarget.Status.QUEUED if i < queued else PostTarget.Status.PUBLISHED,
        )
        for i, post in enumerate(posts)
    )
    MetricsSnapshot.objects.bulk_create(
        MetricsSnapshot(social_account=account, day=dt.date(2024, 1, 1) + dt.timedelta(days=i))
        for i in range(snapshots)
    )
    InboxItem.objects.bulk_create(
        InboxItem(social_account=account, platform_item_id=f"{account.pk}-{i}")
        for i in range(inbox)
    )
    return account
