"""Settings for a real Celery worker started by the tests (see ``tests/celery_worker.py``).

The test settings, with the sandbox reached over HTTP at the live server the test runs, and
tasks sent through Redis instead of run eagerly. With ``SOCIALHUB_TEST_DIE_AFTER_PUBLISH``
naming a file that does not exist yet, the first worker process that publishes creates it
and dies right after the platform accepted the post, before recording it: what a crash, an
OOM kill or a lost container does to a task in flight.
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

# The worker's own enqueues (a claim enqueuing publishes, a retry) stay on its queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ["SOCIALHUB_TEST_QUEUE"]
CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
