"""Disconnect one social account, as staff: the same service the API and the admin call."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import SocialAccount
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason
from accounts.services.offboarding import ALREADY_GONE, social_accounts_disconnect_each
from socialhub.api.errors import ApplicationError
from socialhub.api.ids import parse_public_id

from ._offboarding import Progress, add_run_arguments, confirm, finish, preview_line


class Command(BaseCommand):
    help = (
        "Disconnect one social account (reason revoked_by_staff): cancel its queued posts, "
        "purge its cached data, revoke its tokens. Exit 1 when refused or not found, 3 when "
        "the disconnect failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("social_account_id", help="The account's id, sa_<uuid>.")
        add_run_arguments(parser, noun="the account")

    def handle(self, *args, social_account_id, **options):
        try:
            account_id = parse_public_id(SocialAccount.ID_PREFIX, social_account_id)
        except ApplicationError:
            raise CommandError(
                f"Malformed social account id {social_account_id!r}: expected sa_<uuid>."
            ) from None

        def disconnect(*, dry_run, on_item=None):
            return social_accounts_disconnect_each(
                account_ids=[account_id],
                actor=Actor.system("disconnect_account"),
                reason=DisconnectReason.REVOKED_BY_STAFF,
                dry_run=dry_run,
                on_item=on_item,
            )

        preview = disconnect(dry_run=True)
        (item,) = preview.items
        if item.outcome == ALREADY_GONE:
            raise CommandError(f"Social account {social_account_id} not found.")
        if options["dry_run"]:
            finish(self, preview, as_json=options["json"])
            return
        if not options["yes"]:
            self.stderr.write(preview_line(preview), style_func=lambda text: text)
            confirm(
                self, f"Disconnect {item.platform} account {item.handle or item.social_account_id}?"
            )
        with Progress(self, verbosity=options["verbosity"]) as progress:
            summary = disconnect(dry_run=False, on_item=progress)
        if summary.already_gone:  # disconnected by someone else since the preview
            raise CommandError(f"Social account {social_account_id} not found.")
        finish(self, summary, as_json=options["json"])
