"""Creating, editing and canceling scheduled posts.

Locks are taken in one order by every writer of posts and targets (account, then target,
then post; the disconnect does the same), so two of them racing on one post wait for each
other instead of deadlocking. An edit racing the publisher's claim is safe either way: the
claim skips rows an edit holds, and an edit that waited for a claim finds the post
publishing and answers 409.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import SocialAccount, Workspace
from accounts.services.actors import Actor
from accounts.services.audit import audit_event_record
from scheduling import selectors
from scheduling.limits import MAX_SCHEDULE_AHEAD, text_limit_for
from scheduling.models import PostTarget, ScheduledPost
from socialhub.api.errors import ApplicationError, ErrorCode
from socialhub.api.ids import format_public_id

from .status import scheduled_posts_settle_status

TargetStatus = PostTarget.Status
PostStatus = ScheduledPost.Status

CANCELED_BY_USER = "canceled_by_user"
# A post due this soon gets a publish run at its exact time; later ones wait for the
# periodic claim (a far-off ETA would outlive the broker's visibility timeout).
PUBLISH_ON_TIME_HORIZON = timedelta(minutes=10)
_FINAL = frozenset({PostStatus.PUBLISHED, PostStatus.PARTIALLY_PUBLISHED, PostStatus.FAILED})
_ACCOUNT_UNUSABLE = {
    SocialAccount.Status.TOKEN_EXPIRED: (
        "The account's authorization has expired; reconnect it before scheduling to it."
    ),
    SocialAccount.Status.REVOKED: (
        "The account's authorization was revoked; reconnect it before scheduling to it."
    ),
}


class _Problems:
    """Validation problems, gathered so one 400 names every offending field."""

    def __init__(self) -> None:
        self.details: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.details.append({"field": field, "message": message})

    def raise_if_any(self) -> None:
        if not self.details:
            return
        if len(self.details) == 1:
            message = f"{self.details[0]['field']}: {self.details[0]['message']}"
        else:
            message = "The request is not valid."
        raise ApplicationError(
            ErrorCode.VALIDATION,
            message,
            i18n_key="scheduled_post.invalid",
            details=self.details,
        )


def _check_schedule(problems: _Problems, scheduled_at: datetime, now: datetime) -> None:
    if scheduled_at <= now:
        problems.add("scheduledAt", "Must be in the future.")
    elif scheduled_at > now + MAX_SCHEDULE_AHEAD:
        problems.add("scheduledAt", "Must be at most a year ahead.")


def _check_content(problems: _Problems, text: str, media_urls: list[str], platforms) -> None:
    if not text.strip() and not media_urls:
        problems.add("text", "Required unless mediaUrls are given.")
        return
    over = sorted(
        (limit, platform)
        for platform in set(platforms)
        if len(text) > (limit := text_limit_for(platform))
    )
    if over:
        limits = ", ".join(f"{limit} on {platform}" for limit, platform in over)
        problems.add("text", f"Too long: {len(text)} characters, and the limit is {limits}.")


def _target_accounts(
    problems: _Problems,
    *,
    actor: Actor,
    account_ids: Sequence[uuid.UUID],
    workspace_id: uuid.UUID | None,
) -> list[SocialAccount]:
    """The accounts to post to, locked against a concurrent disconnect, in request order.

    Each unusable one is a problem naming its position: absent and another tenant's alike
    (existence must not leak), not active, or in another workspace than ``workspace_id``
    (for a new post: than the first account's).
    """
    found = {
        account.pk: account
        for account in selectors.social_accounts_for_targets(actor=actor)
        .filter(pk__in=account_ids)
        .select_for_update(of=("self",), no_key=True)
        .order_by("pk")
        .only("id", "workspace_id", "platform", "platform_username", "status")
    }
    accounts = []
    for index, account_id in enumerate(account_ids):
        field = f"socialAccountIds[{index}]"
        account = found.get(account_id)
        if account is None:
            problems.add(field, "Social account not found.")
            continue
        if account.status != SocialAccount.Status.ACTIVE:
            problems.add(field, _ACCOUNT_UNUSABLE.get(account.status, "Not usable."))
            continue
        if workspace_id is None:
            workspace_id = account.workspace_id
        if account.workspace_id != workspace_id:
            problems.add(field, "All accounts of a post must belong to one workspace.")
            continue
        accounts.append(account)
    return accounts


def _new_targets(post: ScheduledPost, accounts: list[SocialAccount]) -> list[PostTarget]:
    """Targets with the account's platform and handle as they are now (kept for history)."""
    return PostTarget.objects.bulk_create(
        PostTarget(
            post=post,
            social_account_id=account.pk,
            account_platform=account.platform,
            account_handle=account.platform_username,
        )
        for account in accounts
    )


def _publish_on_time(scheduled_at: datetime) -> None:
    """After commit, ask for a publish run at ``scheduled_at`` when that is soon."""
    if scheduled_at - timezone.now() > PUBLISH_ON_TIME_HORIZON:
        return
    from scheduling.tasks import post_targets_publish_due_task  # the tasks import services

    # robust: the periodic claim publishes it anyway if the broker cannot take this now.
    transaction.on_commit(
        lambda: post_targets_publish_due_task.apply_async(eta=scheduled_at), robust=True
    )


def _with_targets(post: ScheduledPost) -> ScheduledPost:
    return ScheduledPost.objects.prefetch_related("targets").get(pk=post.pk)


def scheduled_post_create(
    *,
    actor: Actor,
    text: str,
    scheduled_at: datetime,
    social_account_ids: Sequence[uuid.UUID],
    media_urls: Sequence[str] = (),
) -> ScheduledPost:
    """A queued post with one target per account. Its workspace is the accounts' (for an
    API key, the key's). Any member of that workspace may schedule to its accounts."""
    media_urls = list(media_urls)
    problems = _Problems()
    _check_schedule(problems, scheduled_at, timezone.now())
    with transaction.atomic():
        accounts = _target_accounts(
            problems,
            actor=actor,
            account_ids=social_account_ids,
            workspace_id=actor.api_key.workspace_id if actor.api_key is not None else None,
        )
        _check_content(problems, text, media_urls, [account.platform for account in accounts])
        problems.raise_if_any()
        post = ScheduledPost.objects.create(
            workspace_id=accounts[0].workspace_id,
            author=actor.user,
            text=text,
            media_urls=media_urls,
            scheduled_at=scheduled_at,
        )
        targets = _new_targets(post, accounts)
        audit_event_record(
            actor=actor,
            action="scheduled_post.created",
            workspace_id=format_public_id(Workspace.ID_PREFIX, post.workspace_id),
            subject_ids=[post.public_id, *(account.public_id for account in accounts)],
            data={
                "scheduledAt": scheduled_at.isoformat(),
                "targets": [
                    {"id": target.public_id, "platform": target.account_platform}
                    for target in targets
                ],
            },
        )
        _publish_on_time(scheduled_at)
    return _with_targets(post)


def _not_editable() -> ApplicationError:
    return ApplicationError(
        ErrorCode.CONFLICT,
        "Only a queued post none of whose targets has started publishing can be edited.",
        i18n_key="scheduled_post.not_editable",
    )


def scheduled_post_update(
    *,
    post: ScheduledPost,
    actor: Actor,
    text: str | None = None,
    scheduled_at: datetime | None = None,
    social_account_ids: Sequence[uuid.UUID] | None = None,
    media_urls: Sequence[str] | None = None,
) -> ScheduledPost:
    """Change what is given (``None``: unchanged) while the post is queued and none of its
    targets has started publishing; else 409. New accounts get queued targets, accounts
    left out lose theirs; the text must fit every remaining platform."""
    problems = _Problems()
    if scheduled_at is not None:
        _check_schedule(problems, scheduled_at, timezone.now())
    with transaction.atomic():
        accounts = None
        if social_account_ids is not None:
            accounts = _target_accounts(
                problems,
                actor=actor,
                account_ids=social_account_ids,
                workspace_id=post.workspace_id,
            )
        queued = list(
            PostTarget.objects.select_for_update(of=("self",))
            .filter(post_id=post.pk, status=TargetStatus.QUEUED)
            .order_by("pk")
        )
        locked = ScheduledPost.objects.select_for_update(of=("self",)).filter(pk=post.pk).first()
        if locked is None:
            raise selectors.scheduled_post_not_found()
        started = PostTarget.objects.filter(post_id=post.pk).exclude(
            status__in=[TargetStatus.QUEUED, TargetStatus.CANCELED]
        )
        if locked.status != PostStatus.QUEUED or started.exists():
            raise _not_editable()

        new_text = locked.text if text is None else text
        new_media = locked.media_urls if media_urls is None else list(media_urls)
        if accounts is None:
            platforms = [target.account_platform for target in queued]
        else:
            platforms = [account.platform for account in accounts]
        _check_content(problems, new_text, new_media, platforms)
        problems.raise_if_any()

        changed = []
        if accounts is not None:
            wanted = {account.pk for account in accounts}
            kept = {target.social_account_id for target in queued}
            dropped = [target.pk for target in queued if target.social_account_id not in wanted]
            if dropped:
                PostTarget.objects.filter(pk__in=dropped).delete()
            added = _new_targets(locked, [a for a in accounts if a.pk not in kept])
            if dropped or added:
                changed.append("socialAccountIds")
        for field, attribute, value in (
            ("text", "text", text),
            ("scheduledAt", "scheduled_at", scheduled_at),
            ("mediaUrls", "media_urls", None if media_urls is None else new_media),
        ):
            if value is not None and getattr(locked, attribute) != value:
                setattr(locked, attribute, value)
                changed.append(field)
        if changed:
            locked.save(update_fields=["text", "scheduled_at", "media_urls", "updated_at"])
            audit_event_record(
                actor=actor,
                action="scheduled_post.updated",
                workspace_id=format_public_id(Workspace.ID_PREFIX, locked.workspace_id),
                subject_ids=[locked.public_id],
                data={"changed": changed},
            )
            if "scheduledAt" in changed:
                _publish_on_time(locked.scheduled_at)
    return _with_targets(locked)


def scheduled_post_cancel(*, post: ScheduledPost, actor: Actor) -> ScheduledPost:
    """Cancel the post's queued targets and settle it. Targets already publishing finish,
    and the post settles when they do. Canceling a canceled post changes nothing; a post
    that is published or failed cannot be canceled (409)."""
    with transaction.atomic():
        canceled = PostTarget.objects.filter(post_id=post.pk, status=TargetStatus.QUEUED).update(
            status=TargetStatus.CANCELED,
            canceled_reason=CANCELED_BY_USER,
            updated_at=timezone.now(),
        )
        if canceled:
            scheduled_posts_settle_status(post_ids=[post.pk])
        locked = ScheduledPost.objects.select_for_update(of=("self",)).filter(pk=post.pk).first()
        if locked is None:
            raise selectors.scheduled_post_not_found()
        if not canceled and locked.status in _FINAL:
            raise ApplicationError(
                ErrorCode.CONFLICT,
                f"The post is already {locked.status.replace('_', ' ')}; it cannot be canceled.",
                i18n_key="scheduled_post.not_cancelable",
                i18n_vars={"status": locked.status},
            )
        if canceled:
            audit_event_record(
                actor=actor,
                action="scheduled_post.canceled",
                workspace_id=format_public_id(Workspace.ID_PREFIX, locked.workspace_id),
                subject_ids=[locked.public_id],
                data={"canceledTargets": canceled, "status": locked.status},
            )
    return _with_targets(locked)
