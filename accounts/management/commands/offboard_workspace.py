"""Offboard a workspace: disconnect every social account in it, one transaction each."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Workspace
from accounts.services.actors import Actor
from accounts.services.offboarding import workspace_offboard
from socialhub.api.errors import ApplicationError
from socialhub.api.ids import parse_public_id

from ._offboarding import add_jobs_argument, add_run_arguments, run


class Command(BaseCommand):
    help = (
        "Disconnect every social account of a workspace (reason offboarding), oldest first, "
        "committing each one: an interrupted run is resumed by running it again. Exit 1 when "
        "refused or not found, 3 when an account failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("workspace_id", help="The workspace's id, ws_<uuid>.")
        add_jobs_argument(parser)
        add_run_arguments(parser, noun="its accounts")

    def handle(self, *args, workspace_id, **options):
        try:
            pk = parse_public_id(Workspace.ID_PREFIX, workspace_id)
        except ApplicationError:
            raise CommandError(
                f"Malformed workspace id {workspace_id!r}: expected ws_<uuid>."
            ) from None
        workspace = Workspace.objects.filter(pk=pk).first()
        if workspace is None:
            raise CommandError(f"Workspace {workspace_id} not found.")

        def offboard(*, dry_run, on_item, jobs, keep=None):
            return workspace_offboard(
                workspace=workspace,
                actor=Actor.system("offboard_workspace"),
                dry_run=dry_run,
                on_item=on_item,
                jobs=jobs,
                keep=keep,
            )

        run(
            self,
            offboard,
            question=f"Offboard workspace “{workspace.name}” ({workspace.public_id})?",
            options=options,
        )
