"""Load the demo creator, its sandbox accounts and their history (development only)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from socialhub.demo import demo_data_seed


class Command(BaseCommand):
    help = "Create demo data for the embedded first run (refuses with DEBUG off)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo only runs with DEBUG on")
        summary = demo_data_seed()
        state = "created" if summary.created else "already present"
        self.stdout.write(self.style.SUCCESS(f"Demo data {state}."))
        self.stdout.write(f"  creator: {summary.email} / {summary.password}")
        self.stdout.write(f"  teammate: {summary.teammate_email} / {summary.teammate_password}")
        self.stdout.write(f"  staff (admin): {summary.staff_email} / {summary.staff_password}")
