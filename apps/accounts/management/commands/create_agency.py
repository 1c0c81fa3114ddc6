from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import agency_ensure


class Command(BaseCommand):
    help = "Create an agency (tenant) if it does not exist yet."

    def add_arguments(self, parser):
        parser.add_argument("code", help="ORI or short unique code, e.g. WA0170000 or SPD")
        parser.add_argument("name")
        parser.add_argument("--time-zone", default="America/Los_Angeles")

    def handle(self, *args, code, name, time_zone, **options):
        try:
            agency, created = agency_ensure(code=code, name=name, time_zone=time_zone)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{'created' if created else 'exists'}: {agency}")
