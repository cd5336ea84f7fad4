"""The confirm-then-run pattern of the disconnect and offboard actions.

The first POST (from the changelist) runs the service as a dry run and renders its report
as a preview; the confirmation page posts the same selection back with ``apply``, which
runs it for real and reports the counts as messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import ngettext
from kombu.exceptions import OperationalError

from accounts.models import Platform, SocialAccount
from accounts.services.offboarding import (
    ALREADY_GONE,
    DISCONNECTED,
    FAILED,
    WOULD_DISCONNECT,
    OffboardingItem,
    OffboardingSummary,
)

logger = logging.getLogger("socialhub.admin")

# Who may run them: disconnecting deletes the account row, so the right to delete social
# accounts is the gate (superusers have it). The plain delete page stays off for everyone.
DISCONNECT_PERMISSION = "accounts.delete_socialaccount"

# The preview lists this many accounts one per row; its totals always cover all of them.
PREVIEW_ROWS = 200

OUTCOME_LABELS = {
    WOULD_DISCONNECT: "will be disconnected",
    DISCONNECTED: "disconnected",
    ALREADY_GONE: "already disconnected",
    FAILED: "failed",
}


def confirmed(request) -> bool:
    """True on the confirmation page's POST, false on the first one from the changelist."""
    return bool(request.POST.get("apply"))


def in_background(account_count: int) -> bool:
    """Whether a run of this size goes to a worker instead of holding the request."""
    return account_count > settings.ADMIN_INLINE_DISCONNECT_MAX


def queue_in_background(modeladmin, request, task, *args, what: str, account_count: int) -> None:
    """Hand the run to a worker (``task`` with ``args``) and say so.

    No transaction is open in an admin action, so the message goes to the broker at once:
    a broker that is down is reported here, with nothing started or changed, instead of
    as a server error.
    """
    try:
        task.delay_on_commit(*args)
    except OperationalError:
        logger.warning("Could not queue %s: broker unavailable", task.name, exc_info=True)
        modeladmin.message_user(
            request,
            f"{what} could not be started: the task queue is unreachable. Nothing was "
            "changed; try again once it is back.",
            messages.ERROR,
        )
        return
    report_queued(modeladmin, request, what=what, account_count=account_count)


def report_queued(modeladmin, request, *, what: str, account_count: int) -> None:
    """E.g. "Offboarding “Acme” (1200 accounts) in the background. …"."""
    accounts = ngettext("%d account", "%d accounts", account_count) % account_count
    modeladmin.message_user(
        request,
        f"{what} ({accounts}) in the background. Each account is committed and audited on "
        "its own; accounts leave the list as they are done.",
        messages.SUCCESS,
    )


@dataclass(frozen=True)
class PreviewRow:
    item: OffboardingItem
    user_email: str
    workspace_name: str

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS.get(self.item.outcome, self.item.outcome)

    @property
    def platform_label(self) -> str:
        return (
            Platform(self.item.platform).label
            if self.item.platform in Platform.values
            else self.item.platform
        )


def _preview_rows(summary: OffboardingSummary) -> list[PreviewRow]:
    """The dry run's first items with the owner's email and the workspace's name, in one
    read."""
    items = summary.items[:PREVIEW_ROWS]
    public_ids = [item.social_account_id for item in items]
    owners = {
        account.public_id: account
        for account in SocialAccount.objects.filter(
            pk__in=[public_id.split("_", 1)[1] for public_id in public_ids]
        )
        .select_related("user", "workspace")
        .only("id", "user__email", "workspace__name")
    }
    rows = []
    for item in items:
        owner = owners.get(item.social_account_id)
        rows.append(
            PreviewRow(
                item=item,
                user_email=owner.user.email if owner else "",
                workspace_name=owner.workspace.name if owner else "",
            )
        )
    return rows


def preview_response(
    modeladmin,
    request,
    *,
    summary: OffboardingSummary,
    template: str,
    title: str,
    action: str,
    selected_ids: list[str],
    **extra,
) -> TemplateResponse:
    """The confirmation page for a dry run's ``summary``."""
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "media": modeladmin.media,
        "rows": _preview_rows(summary),
        "more_rows": max(summary.accounts - PREVIEW_ROWS, 0),
        "background": in_background(summary.accounts),
        "summary": summary,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected_ids": selected_ids,
        **extra,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, template, context)


def outcome_message(summary: OffboardingSummary) -> str:
    """E.g. "Disconnected 2 accounts: 5 scheduled posts canceled, 62 cached rows purged."."""
    done = summary.disconnected
    canceled = summary.canceled_scheduled_posts
    purged = summary.purged_metrics + summary.purged_metrics_snapshots + summary.purged_inbox_items
    accounts = ngettext("%d account", "%d accounts", done) % done
    posts = ngettext("%d scheduled post", "%d scheduled posts", canceled) % canceled
    rows = ngettext("%d cached row", "%d cached rows", purged) % purged
    leased = summary.released_leases
    leases = (
        (ngettext(", %d lease released", ", %d leases released", leased) % leased) if leased else ""
    )
    return f"Disconnected {accounts}: {posts} canceled, {rows} purged{leases}."


def report_outcome(modeladmin, request, summary: OffboardingSummary, *, prefix: str = "") -> None:
    """The real run's counts as a success message, each failure as an error message."""
    modeladmin.message_user(request, f"{prefix}{outcome_message(summary)}", messages.SUCCESS)
    if summary.already_gone:
        modeladmin.message_user(
            request,
            ngettext(
                "%d account was already disconnected.",
                "%d accounts were already disconnected.",
                summary.already_gone,
            )
            % summary.already_gone,
            messages.WARNING,
        )
    for item in summary.failures:
        if item.outcome == FAILED:
            modeladmin.message_user(
                request,
                f"Could not disconnect {item.platform} account "
                f"{item.handle or item.social_account_id}: {item.error or 'unknown error'}",
                messages.ERROR,
            )


def single_selection(modeladmin, request, queryset, *, noun: str):
    """The one selected row, or None after telling staff to pick exactly one: the preview
    and the result stay readable, and a stray "select all" cannot offboard every customer."""
    selected = list(queryset.order_by()[:2])
    if len(selected) != 1:
        modeladmin.message_user(
            request, f"Offboard one {noun} at a time: select exactly one.", messages.WARNING
        )
        return None
    return selected[0]


def run_offboarding(
    modeladmin,
    request,
    target,
    *,
    label: str,
    scope: str,
    account_count: int,
    offboard,
    background_task,
    action: str,
):
    """Preview, then run (in the request, or on a worker for a large one) an offboarding.

    ``offboard(dry_run=...)`` is the service call; ``background_task`` its Celery task,
    taking the target's and the staff user's ids.
    """
    if account_count == 0:  # nothing connected, or offboarded already (a second confirm)
        modeladmin.message_user(
            request,
            f"“{label}” has no connected social accounts: nothing to offboard.",
            messages.WARNING,
        )
        return None
    apply = confirmed(request)
    if apply and in_background(account_count):
        queue_in_background(
            modeladmin,
            request,
            background_task,
            str(target.pk),
            str(request.user.pk),
            what=f"Offboarding “{label}”",
            account_count=account_count,
        )
        return None
    summary = offboard(dry_run=not apply)
    if apply:
        report_outcome(modeladmin, request, summary, prefix=f"Offboarded “{label}”. ")
        return None
    return preview_response(
        modeladmin,
        request,
        summary=summary,
        template="admin/accounts/offboard_confirmation.html",
        title=f"Offboard “{label}”?",
        action=action,
        selected_ids=[str(target.pk)],
        label=label,
        scope=scope,
    )
