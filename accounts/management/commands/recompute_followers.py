"""Recompute creators' total_followers from their accounts' metrics."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import CreatorProfile, User
from accounts.services.followers import creator_followers_recompute, creator_followers_recompute_all


class Command(BaseCommand):
    help = "Set total_followers to the sum over the creator's accounts, for one user or all."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--all", action="store_true", help="Every creator profile.")
        target.add_argument("--user", metavar="EMAIL", help="The creator with this email.")

    def handle(self, *args, **options):
        if options["all"]:
            updated = creator_followers_recompute_all()
            self.stdout.write(f"Recomputed total followers of {updated} creator profile(s).")
            return
        email = options["user"]
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        creator_followers_recompute(user_id=user.pk)
        total = (
            CreatorProfile.objects.filter(user_id=user.pk)
            .values_list("total_followers", flat=True)
            .first()
        )
        if total is None:
            self.stdout.write(
                f"Recomputed total followers of 0 creator profiles ({user.email} has none)."
            )
            return
        self.stdout.write(
            f"Recomputed total followers of 1 creator profile: {user.email} now has {total}."
        )
