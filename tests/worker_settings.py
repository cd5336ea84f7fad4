"""Settings for a real Celery worker started by the tests (see ``tests/celery_worker.py``).

The test settings, with the sandbox reached over HTTP at the live server the test runs, and
tasks sent through Redis instead of run eagerly. Each ``SOCIALHUB_TEST_DIE_AFTER_*`` names a
file that does not exist yet: the first worker process to reach that point creates it and
dies there, which is what a crash, an OOM kill or a lost container does to a task in flight.

- ``…_PUBLISH``: right after the platform accepted a post, before recording it;
- ``…_REVOKE``: right after the platform revoked a disconnected account's tokens, before
  the outbox row is deleted;
- ``…_DISCONNECT``: right after an offboarding committed its first account's disconnect.
"""

import os

from tests.settings import *  # noqa: F403

SANDBOX_BASE_URL = os.environ["SANDBOX_BASE_URL"]

_die_marker = os.environ.get("SOCIALHUB_TEST_DIE_AFTER_PUBLISH")
if _die_marker:
    from accounts.providers.sandbox import SandboxProvider

    _publish = SandboxProvider.publish

    def _publish_then_die(self, **kwargs):
        result = _publish(self, **kwargs)
        try:
            with open(_die_marker, "x"):
                pass
        except FileExistsError:
            return result
        os._exit(1)

    SandboxProvider.publish = _publish_then_die


def _first_to_get_here(marker: str) -> bool:
    try:
        with open(marker, "x"):
            return True
    except FileExistsError:
        return False


_revoke_marker = os.environ.get("SOCIALHUB_TEST_DIE_AFTER_REVOKE")
if _revoke_marker:
    from accounts.providers.sandbox import SandboxProvider

    _revoke = SandboxProvider.revoke

    def _revoke_then_die(self, **kwargs):
        _revoke(self, **kwargs)
        if _first_to_get_here(_revoke_marker):
            os._exit(1)

    SandboxProvider.revoke = _revoke_then_die

_disconnect_marker = os.environ.get("SOCIALHUB_TEST_DIE_AFTER_DISCONNECT")
if _disconnect_marker:
    from celery.signals import worker_process_init

    @worker_process_init.connect(weak=False)
    def _die_after_the_first_disconnect(**_kwargs):
        # In each pool process, once Django is set up: the services import the models.
        from accounts.services import offboarding

        disconnect = offboarding.social_account_disconnect

        def disconnect_then_die(**kwargs):
            report = disconnect(**kwargs)
            if _first_to_get_here(_disconnect_marker):
                os._exit(1)
            return report

        offboarding.social_account_disconnect = disconnect_then_die


# The worker's own enqueues (a claim enqueuing publishes, a retry) stay on its queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ["SOCIALHUB_TEST_QUEUE"]
CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
