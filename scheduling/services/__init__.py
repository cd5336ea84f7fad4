"""Writes on scheduled posts and their targets, one module per concern.

Every writer of posts and targets takes its row locks in one order (the account, then the
targets, then the post), so two of them racing on one post wait instead of deadlocking.
"""

from .posts import scheduled_post_cancel, scheduled_post_create, scheduled_post_update
from .publishing import PublishOutcome, post_target_publish, post_targets_claim_due
from .status import post_targets_cancel_for_disconnect, scheduled_posts_settle_status

__all__ = [
    "PublishOutcome",
    "post_target_publish",
    "post_targets_cancel_for_disconnect",
    "post_targets_claim_due",
    "scheduled_post_cancel",
    "scheduled_post_create",
    "scheduled_post_update",
    "scheduled_posts_settle_status",
]
