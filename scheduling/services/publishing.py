"""Publishing due targets: claim them, call the platform, record what it answered.

The claim marks due targets ``publishing`` with a lease, skipping rows another claimer or
an edit holds (``SELECT … FOR UPDATE SKIP LOCKED``), and enqueues one publish task per
target after commit. The publish call to the platform runs outside any transaction, with
the target's public id as its idempotency key: a task that runs again after its worker
died mid-call gets the post it already made instead of a second one. The token is read, and
the call made, under the account's platform-call lock (``accounts.services.platform_calls``):
a disconnect waits for the call, so nothing is published once it has committed. A target
whose lease runs out (its worker died, or the task was lost) is claimed again, up to
``PUBLISH_MAX_ATTEMPTS`` attempts in all.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.crypto import TokenDecryptionError
from accounts.models import SocialAccount
from accounts.providers import (
    ProviderDefinitiveError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRequestError,
    ProviderTransientError,
    provider_for,
)
from accounts.services.platform_calls import social_account_platform_call
from accounts.services.refresh import social_account_token_refresh
from accounts.services.webhooks import WebhookEvent, webhook_event_emit
from scheduling.models import PostTarget, ScheduledPost
from socialhub.api.ids import format_public_id
from socialhub.backoff import retry_delay_seconds
from socialhub.celery import enqueue_on_commit

from .status import scheduled_posts_settle_status

logger = logging.getLogger("socialhub.scheduling")

TargetStatus = PostTarget.Status
PostStatus = ScheduledPost.Status

ERROR_MAX_LENGTH = 500
ACCOUNT_GONE = "The account was disconnected before the post was published."
ACCOUNT_UNUSABLE = {
    SocialAccount.Status.TOKEN_EXPIRED: (
        "The account's authorization had expired when the post was due; reconnect it."
    ),
    SocialAccount.Status.REVOKED: (
        "The account's authorization was revoked when the post was due; reconnect it."
    ),
}
TOKEN_UNREADABLE = "The account's stored token cannot be read; reconnect it."
# An access token expiring sooner than this is refreshed before publishing with it.
REFRESH_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class PublishOutcome:
    status: str  # published | failed | retry | skipped
    retry_in: int | None = None


def _account_problem(account_status: str | None) -> str | None:
    """Why a target cannot be published to its account (``None``: the account is gone)."""
    if account_status is None:
        return ACCOUNT_GONE
    if account_status != SocialAccount.Status.ACTIVE:
        return ACCOUNT_UNUSABLE.get(account_status, "The account cannot be published to.")
    return None


def _emit_outcome(target: PostTarget, *, workspace_id, post_status: str) -> None:
    """The webhook for a target that reached published or failed (inside the transaction)."""
    data = {
        "postId": format_public_id(ScheduledPost.ID_PREFIX, target.post_id),
        "targetId": target.public_id,
        "socialAccountId": format_public_id(SocialAccount.ID_PREFIX, target.social_account_id),
        "platform": target.account_platform,
        "accountHandle": target.account_handle,
        "postStatus": post_status,
    }
    if target.status == TargetStatus.PUBLISHED:
        event = WebhookEvent.POST_PUBLISHED
        data["platformPostId"] = target.platform_post_id
        data["publishedAt"] = target.published_at
    else:
        event = WebhookEvent.POST_FAILED
        data["error"] = target.error
    webhook_event_emit(workspace_id=workspace_id, event=event, data=data)


def _post_states(post_ids) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    """(workspace id, status) of each post, read after settling."""
    return {
        pk: (workspace_id, status)
        for pk, workspace_id, status in ScheduledPost.objects.filter(pk__in=post_ids).values_list(
            "pk", "workspace_id", "status"
        )
    }


def post_targets_claim_due(*, limit: int) -> list[uuid.UUID]:
    """Claim up to ``limit`` due targets, oldest first, and enqueue their publishing.

    Due: queued with the post's time come, or publishing with the lease run out. A due
    target whose account is gone or not active fails at once, as does one whose attempts
    are used up; the rest become ``publishing`` (and their posts too) until the lease
    ends. Returns the ids of the targets handed to publishers.
    """
    from scheduling.tasks import post_target_publish_task  # the tasks import services

    now = timezone.now()
    with transaction.atomic():
        due = list(
            PostTarget.objects.select_for_update(skip_locked=True, of=("self", "post"))
            .select_related("post")
            .annotate(account_status=F("social_account__status"))
            .filter(
                Q(status=TargetStatus.QUEUED, post__scheduled_at__lte=now)
                | Q(status=TargetStatus.PUBLISHING, claimed_until__lte=now),
                post__status__in=[PostStatus.QUEUED, PostStatus.PUBLISHING],
            )
            .order_by("post__scheduled_at", "pk")[:limit]
        )
        claimed: list[PostTarget] = []
        failing: dict[str, list[PostTarget]] = defaultdict(list)
        for target in due:
            problem = _account_problem(target.account_status)
            if problem is None and target.attempts >= settings.PUBLISH_MAX_ATTEMPTS:
                problem = (
                    f"Publishing did not finish after {target.attempts} attempts; "
                    "the post may or may not be on the platform."
                )
            if problem is None:
                claimed.append(target)
            else:
                failing[problem].append(target)

        if claimed:
            PostTarget.objects.filter(pk__in=[target.pk for target in claimed]).update(
                status=TargetStatus.PUBLISHING,
                attempts=F("attempts") + 1,
                claimed_until=now + settings.PUBLISH_CLAIM_LEASE,
                updated_at=now,
            )
            ScheduledPost.objects.filter(
                pk__in={target.post_id for target in claimed}, status=PostStatus.QUEUED
            ).update(status=PostStatus.PUBLISHING, updated_at=now)
        if failing:
            for problem, targets in failing.items():
                PostTarget.objects.filter(pk__in=[target.pk for target in targets]).update(
                    status=TargetStatus.FAILED, error=problem, claimed_until=None, updated_at=now
                )
            failed = [target for targets in failing.values() for target in targets]
            failed_posts = {target.post_id for target in failed}
            scheduled_posts_settle_status(post_ids=list(failed_posts))
            states = _post_states(failed_posts)
            for problem, targets in failing.items():
                for target in targets:
                    target.status, target.error = TargetStatus.FAILED, problem
                    workspace_id, post_status = states[target.post_id]
                    _emit_outcome(target, workspace_id=workspace_id, post_status=post_status)
                    logger.info("[posts] Target %s failed at claim: %s", target.public_id, problem)
        for target in claimed:
            # A message the broker cannot take leaves the target to be claimed again when
            # its lease runs out.
            enqueue_on_commit(post_target_publish_task, str(target.pk))
    return [target.pk for target in claimed]


def _lock_if_publishing(target_id) -> PostTarget | None:
    """The target, row-locked, while it is still ``publishing`` (inside a transaction)."""
    return (
        PostTarget.objects.select_for_update(of=("self",))
        .filter(pk=target_id, status=TargetStatus.PUBLISHING)
        .first()
    )


def _finish(
    target_id, *, status: str, platform_post_id: str = "", error: str = ""
) -> PublishOutcome:
    """Record the platform's answer if the target is still publishing; settle its post."""
    now = timezone.now()
    with transaction.atomic():
        target = _lock_if_publishing(target_id)
        if target is None:
            return PublishOutcome("skipped")  # someone else recorded it first
        target.status = status
        target.claimed_until = None
        if status == TargetStatus.PUBLISHED:
            target.platform_post_id = platform_post_id[:191]
            target.published_at = now
            target.error = ""
        else:
            target.error = error[:ERROR_MAX_LENGTH]
        target.save(
            update_fields=[
                "status",
                "claimed_until",
                "platform_post_id",
                "published_at",
                "error",
                "updated_at",
            ]
        )
        scheduled_posts_settle_status(post_ids=[target.post_id])
        workspace_id, post_status = _post_states([target.post_id])[target.post_id]
        _emit_outcome(target, workspace_id=workspace_id, post_status=post_status)
    logger.info("[posts] Target %s %s", target.public_id, status)
    return PublishOutcome(status)


def _retry_later(target_id, exc: ProviderError) -> PublishOutcome:
    """Keep the target publishing and push its lease past the backoff; fail it once its
    attempts are used up."""
    with transaction.atomic():
        target = _lock_if_publishing(target_id)
        if target is None:
            return PublishOutcome("skipped")
        if target.attempts >= settings.PUBLISH_MAX_ATTEMPTS:
            give_up = True
        else:
            give_up = False
            retry_in = retry_delay_seconds(
                target.attempts, retry_after=getattr(exc, "retry_after", None)
            )
            target.attempts += 1
            target.claimed_until = (
                timezone.now() + timedelta(seconds=retry_in) + settings.PUBLISH_CLAIM_LEASE
            )
            target.error = f"Attempt {target.attempts - 1} failed: {exc}"[:ERROR_MAX_LENGTH]
            target.save(update_fields=["attempts", "claimed_until", "error", "updated_at"])
    if give_up:
        return _finish(
            target_id,
            status=TargetStatus.FAILED,
            error=f"The platform did not accept the post after {target.attempts} attempts: {exc}",
        )
    return PublishOutcome("retry", retry_in=retry_in)


def _refusal(platform: str, exc: ProviderError) -> str:
    status = f" ({exc.http_status})" if exc.http_status else ""
    return f"{platform} refused the post{status}: {exc}"


def _account_token(social_account_id) -> tuple[str | None, str, datetime | None]:
    """(status, access token, expiry) of the account; status ``None`` when it is gone."""
    account = (
        SocialAccount.objects.filter(pk=social_account_id)
        .values_list("status", "access_token", "token_expires_at")
        .first()
    )
    return account if account is not None else (None, "", None)


def post_target_publish(*, target_id: uuid.UUID | str) -> PublishOutcome:
    """Publish one claimed target. Safe to run again: a target no longer ``publishing``
    is skipped, and the platform call carries the target's id as its idempotency key."""
    target = PostTarget.objects.select_related("post").filter(pk=target_id).first()
    if target is None or target.status != TargetStatus.PUBLISHING:
        return PublishOutcome("skipped")
    try:
        account_status, access_token, expires_at = _account_token(target.social_account_id)
        if expires_at is not None and expires_at <= timezone.now() + REFRESH_MARGIN:
            # Refresh first instead of sending a token the platform will refuse.
            social_account_token_refresh(social_account_id=target.social_account_id)
            account_status, access_token, expires_at = _account_token(target.social_account_id)
    except TokenDecryptionError:
        logger.error("[posts] Target %s: the account's token does not decrypt", target.pk)
        return _finish(target_id, status=TargetStatus.FAILED, error=TOKEN_UNREADABLE)
    problem = _account_problem(account_status)
    if problem is not None:
        return _finish(target_id, status=TargetStatus.FAILED, error=problem)
    if expires_at is not None and expires_at <= timezone.now():
        # The refresh could not run yet (the platform is down, or another worker is on
        # it): try again later rather than fail the post on a stale token.
        return _retry_later(
            target_id, ProviderTransientError("the access token expired and is being refreshed")
        )

    try:
        provider = provider_for(target.account_platform)
        media_urls = list(target.post.media_urls)
        # Media uploads and processing publish nothing: done before the lock, so a
        # disconnect does not wait for them.
        prepared = provider.prepare_publish(
            access_token=access_token, text=target.post.text, media_urls=media_urls
        )
        with social_account_platform_call(target.social_account_id):
            # Read again under the lock: an account disconnected since is gone, and a
            # disconnect from now on waits for this call to end.
            account_status, access_token, _expires_at = _account_token(target.social_account_id)
            problem = _account_problem(account_status)
            if problem is None:
                result = provider.publish(
                    access_token=access_token,
                    text=target.post.text,
                    media_urls=media_urls,
                    idempotency_key=target.public_id,
                    prepared=prepared,
                )
    except TokenDecryptionError:
        logger.error("[posts] Target %s: the account's token does not decrypt", target.pk)
        return _finish(target_id, status=TargetStatus.FAILED, error=TOKEN_UNREADABLE)
    except (ProviderDefinitiveError, ProviderRequestError) as exc:
        error = _refusal(target.account_platform, exc)
        return _finish(target_id, status=TargetStatus.FAILED, error=error)
    except (ProviderTransientError, ProviderNotConfigured) as exc:
        logger.warning("[posts] Target %s: attempt %s failed: %s", target.pk, target.attempts, exc)
        return _retry_later(target_id, exc)
    except ProviderError as exc:  # pragma: no cover - every subclass is handled above
        return _retry_later(target_id, exc)
    if problem is not None:
        return _finish(target_id, status=TargetStatus.FAILED, error=problem)
    return _finish(
        target_id, status=TargetStatus.PUBLISHED, platform_post_id=result.platform_post_id
    )
