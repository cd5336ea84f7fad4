"""Screenshots of the staff disconnect flow in the admin, for the README (docs/admin/*.png).

Seeds the demo data into a throwaway test database, serves the app on a local port and
drives the system's Chromium through: log in, pick two accounts and the action, the
preview, the result. Nothing touches the configured database itself.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/socialhub \
        .venv/bin/python scripts/admin_screenshots.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "admin"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialhub.settings")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are
    # plain synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    import django

    django.setup()

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.db import connections
    from django.test.testcases import LiveServerThread
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases
    from playwright.sync_api import expect, sync_playwright

    from accounts.models import SocialAccount
    from accounts.providers import http as provider_http
    from socialhub.demo import STAFF_EMAIL, STAFF_PASSWORD, demo_data_seed
    from tests.sandbox_transport import sandbox_session

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    # Upstream revokes after the disconnect go to the in-process sandbox.
    provider_http.set_http_session(sandbox_session()[0])
    server = None
    try:
        demo_data_seed()
        chosen = list(
            SocialAccount.objects.filter(platform__in=["instagram", "x"])
            .order_by("platform")
            .values_list("pk", flat=True)
        )
        in_memory = {
            conn.alias: conn
            for conn in connections.all()
            if conn.vendor == "sqlite" and conn.is_in_memory_db()
        }
        for conn in in_memory.values():
            conn.inc_thread_sharing()
        server = LiveServerThread(
            "localhost", StaticFilesHandler, connections_override=in_memory, port=0
        )
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        base = f"http://localhost:{server.port}"
        OUT.mkdir(parents=True, exist_ok=True)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{base}/admin/")
            page.fill("#id_username", STAFF_EMAIL)
            page.fill("#id_password", STAFF_PASSWORD)
            shot(page, "1-login.png")
            page.click("input[type=submit]")
            # Fold the navigation sidebar so the tables get the full width.
            page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")

            page.goto(f"{base}/admin/accounts/socialaccount/")
            for pk in chosen:
                page.check(f'input.action-select[value="{pk}"]')
            page.select_option('select[name="action"]', "disconnect_selected")
            shot(page, "2-accounts-action.png")
            page.click('button[name="index"]')

            expect(page.locator("#disconnect-preview")).to_be_visible()
            shot(page, "3-preview.png")
            page.locator("#content form input[type=submit]").click()

            expect(page.locator("ul.messagelist li.success")).to_be_visible()
            shot(page, "4-result.png")
            browser.close()
    finally:
        if server is not None:
            server.terminate()
        provider_http.set_http_session(None)
        teardown_databases(databases, verbosity=0)
    return 0


def shot(page, name: str) -> None:
    path = OUT / name
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    sys.exit(main())
