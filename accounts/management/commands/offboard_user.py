"""Offboard a user: disconnect every social account they connected, in any workspace."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services.actors import Actor
from accounts.services.offboarding import user_offboard

from ._offboarding import add_jobs_argument, add_run_arguments, run


class Command(BaseCommand):
    help = (
        "Disconnect every social account a user connected, in every workspace (reason "
        "offboarding), committing each one: an interrupted run is resumed by running it "
        "again. Exit 1 when refused or not found, 3 when an account failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The user's email address.")
        add_jobs_argument(parser)
        add_run_arguments(parser, noun="their accounts")

    def handle(self, *args, email, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")

        def offboard(*, dry_run, on_item, jobs, keep=None):
            return user_offboard(
                user=user,
                actor=Actor.system("offboard_user"),
                dry_run=dry_run,
                on_item=on_item,
                jobs=jobs,
                keep=keep,
            )

        run(
            self,
            offboard,
            question=f"Offboard user {user.email} ({user.public_id})?",
            options=options,
        )
