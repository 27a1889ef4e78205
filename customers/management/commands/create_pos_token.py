"""`python manage.py create_pos_token --store S001 --name "front desk"`: issue a POS device key."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.models import PosToken, Store


class Command(BaseCommand):
    help = "Issue a POS token for one store and print its key once (only a hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", required=True, help="store code, e.g. S001")
        parser.add_argument("--name", required=True, help='the device, e.g. "front desk"')

    def handle(self, *args, **options) -> None:
        store = Store.objects.filter(code=options["store"]).first()
        if store is None:
            raise CommandError(f'unknown store "{options["store"]}"')
        if not store.is_active:
            raise CommandError(f'store "{store.code}" is not active')
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters")
        token, key = PosToken.issue(store=store, name=name)
        self.stderr.write(
            f"POS token {token.pk} for {store.code} ({name}). The key is shown once; revoke it in the admin."
        )
        self.stdout.write(key)
