"""Repair creators' total_followers: each becomes the sum over the creator's accounts."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import CreatorProfile, User
from accounts.services.followers import creator_followers_repair

LISTED = 50  # corrections printed one per line; the rest are counted


class Command(BaseCommand):
    help = (
        "Recompute total_followers from the accounts' metrics for the creators named by "
        "email, or for every creator with --all, and list the totals that were wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("emails", nargs="*", metavar="EMAIL", help="A creator's email.")
        parser.add_argument("--all", action="store_true", help="Every creator profile.")

    def handle(self, *args, emails, **options):
        if bool(emails) == bool(options["all"]):
            raise CommandError("Name creators by email, or pass --all (not both).")
        if options["all"]:
            user_ids = None
            checked = CreatorProfile.objects.count()
        else:
            wanted = {email.strip().lower() for email in emails}
            matches = Q()
            for email in wanted:
                matches |= Q(email__iexact=email)
            users = {
                email.lower(): pk
                for email, pk in User.objects.filter(matches).values_list("email", "pk")
            }
            unknown = sorted(wanted - set(users))
            if unknown:
                raise CommandError(f"No user with email {', '.join(unknown)}; nothing changed.")
            user_ids = list(users.values())
            checked = CreatorProfile.objects.filter(user_id__in=user_ids).count()

        corrected = creator_followers_repair(user_ids=user_ids)

        self.stdout.write(
            f"Checked {checked} creator profile(s): {len(corrected)} total(s) corrected."
        )
        for email, stored, actual in corrected[:LISTED]:
            self.stdout.write(f"  {email}: {stored} -> {actual}")
        if len(corrected) > LISTED:
            self.stdout.write(f"  … and {len(corrected) - LISTED} more.")
