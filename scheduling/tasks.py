"""Publishing scheduled posts. Each task only calls a service."""

from __future__ import annotations

from celery import shared_task

from scheduling.services import post_target_publish, post_targets_claim_due

# Targets handed to publishers per run of the periodic claim.
CLAIM_BATCH = 500


@shared_task(ignore_result=True)
def post_targets_publish_due_task() -> int:
    """Periodic (and at a soon-due post's time): claim due targets, enqueue their publishing."""
    return len(post_targets_claim_due(limit=CLAIM_BATCH))


# max_retries=None: the service bounds the attempts (PUBLISH_MAX_ATTEMPTS) and fails the
# target when they are used up.
@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def post_target_publish_task(self, target_id: str) -> str:
    """Publish one claimed target. Idempotent: a re-run after the target is recorded does
    nothing, and a re-run after a crash mid-call gets the platform's existing post back."""
    outcome = post_target_publish(target_id=target_id)
    if outcome.status == "retry" and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status
