"""Commands for operators: `flask --app portal <command>` (SPEC section 11)."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.database import unit_of_work
from portal.extensions import db
from portal.models import Idea, Role

DEMO_ACCOUNTS_FILE = "demo-accounts.txt"


def _print_accounts(result: dict) -> str:
    lines = [f"Demo accounts (password: {result['password']}):"]
    for email in result["accounts"][:3]:
        lines.append(f"  {email}")
    lines.append(
        f"  ... customer1@example.com to customer{len(result['accounts']) - 3}@example.com"
    )
    return "\n".join(lines)


@click.command("seed-demo")
@with_appcontext
@click.option("--ideas", default=300, show_default=True, help="How many ideas to create.")
@click.option("--password", default=None, help="Password for every demo account.")
@click.option("--if-empty", is_flag=True, help="Do nothing (but list the accounts) if seeded.")
def seed_demo_command(ideas, password, if_empty):
    """Fill an empty database with demo boards, accounts, ideas, votes and comments."""
    from portal.demo import DemoError, seed_demo

    saved = Path(current_app.instance_path) / DEMO_ACCOUNTS_FILE
    if if_empty and db.session.scalar(db.select(Idea.id).limit(1)) is not None:
        if saved.exists():
            click.echo(saved.read_text())
        return
    try:
        with unit_of_work():
            result = seed_demo(ideas=ideas, password=password)
    except DemoError as refused:
        raise click.ClickException(str(refused)) from None
    from portal.search.indexing import reindex_all

    reindex_all()
    text = _print_accounts(result)
    saved.write_text(text + "\n")
    saved.chmod(0o600)
    click.echo(
        f"Created {result['boards']} boards, {result['ideas']} ideas, "
        f"{result['votes']} votes and {result['comments']} comments."
    )
    click.echo(text)


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--role", default="customer", show_default=True,
              type=click.Choice([r.slug for r in Role]))  # fmt: skip
@click.option("--password", default=None, help="Asked for when not given.")
def create_user_command(email, name, role, password):
    """Make a verified account with a role, trusted: the operator vouches for it, so the
    brakes on new accounts do not apply. Works in every sign-in mode, even with passwords
    off for that role (then the person signs in by single sign-on or with sign-in-link)."""
    from portal.operations import ValidationError
    from portal.operations.accounts import register_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with unit_of_work():
        try:
            user = register_user(email, name, password, role=Role.from_slug(role), verified=True)
        except ValidationError as invalid:
            raise click.ClickException("; ".join(invalid.fields.values())) from None
        if user is None:
            raise click.ClickException(f"An account for {email} already exists.")
        user.is_trusted = True
    click.echo(f"Created {user.email} ({user.role.label}).")


@click.command("sign-in-link")
@with_appcontext
@click.argument("email")
def sign_in_link_command(email):
    """Print a one-time link that signs EMAIL in within 15 minutes, whatever the sign-in mode
    (an emergency way in, say when single sign-on is down and passwords are off); accounts
    with two-factor sign-in are still asked for their code. Recorded in the audit log."""
    from portal.operations.accounts import find_user
    from portal.operations.sign_in_modes import issue_sign_in_link

    user = find_user(email.strip().lower())
    if user is None or user.deleted_at is not None:
        raise click.ClickException(f"There is no account for {email}.")
    # A request context, for the link (built on BASE_URL as the worker does).
    base_url = current_app.config["BASE_URL"]
    with current_app.test_request_context("/", base_url=base_url), unit_of_work():
        link = issue_sign_in_link(user)
    click.echo(f"A link that signs in {user.email} ({user.role.label}) once, within 15 "
               "minutes; it is shown only this once:")  # fmt: skip
    click.echo(link)


@click.command("create-token")
@with_appcontext
@click.argument("email")
@click.option("--name", default="Command line", show_default=True, help="What it is for.")
def create_token_command(email, name):
    """Make an API token acting as EMAIL; the token is the last line printed."""
    from portal.operations import OperationError
    from portal.operations.accounts import find_user
    from portal.operations.tokens import create_token
    from portal.operations.two_factor import must_set_up_two_factor

    user = find_user(email.strip().lower())
    if user is None:
        raise click.ClickException(f"There is no account for {email}.")
    try:
        with unit_of_work():
            _row, token = create_token(user, name)
    except OperationError as refused:
        raise click.ClickException(refused.explanation) from None
    if must_set_up_two_factor(user):
        click.echo(f"{user.email} must set up two-factor sign-in before this token works: "
                   "this site requires it for its staff.")  # fmt: skip
    click.echo(f"API token for {user.email} ({user.role.label}); it is shown only once:")
    click.echo(token)


@click.command("reset-two-factor")
@with_appcontext
@click.argument("email")
def reset_two_factor_command(email):
    """Turn off two-factor sign-in of EMAIL, who lost their app and recovery codes (say, the
    only admin): their sessions end, their API tokens are revoked and they are told by mail;
    recorded in the audit log."""
    from portal.operations import OperationError
    from portal.operations.accounts import find_user
    from portal.operations.two_factor import reset_two_factor

    user = find_user(email.strip().lower())
    if user is None or user.deleted_at is not None:
        raise click.ClickException(f"There is no account for {email}.")
    # A request context, for the links in the mail (built on BASE_URL as the worker does).
    with current_app.test_request_context("/", base_url=current_app.config["BASE_URL"]):
        try:
            with unit_of_work():
                ended, revoked = reset_two_factor(None, user)
        except OperationError as refused:
            raise click.ClickException(refused.explanation) from None
    click.echo(
        f"Two-factor sign-in of {user.email} ({user.role.label}) is off; {ended} session(s) "
        f"ended, {revoked} API token(s) revoked and a mail is queued to them. They sign in "
        "with their password alone and should set it up again."
    )


@click.command("rotate-two-factor-key")
@with_appcontext
def rotate_two_factor_key_command():
    """Encrypt every two-factor secret again with the first key of TWO_FACTOR_KEYS, after a
    new key was put first; then the old ones may go (README, "Two-factor keys")."""
    from portal.totp_keys import UnreadableSecret, rotate_secrets

    try:
        with unit_of_work():
            count = rotate_secrets()
    except UnreadableSecret:
        raise click.ClickException(
            "A two-factor secret cannot be decrypted with TWO_FACTOR_KEYS or the key derived "
            "from SECRET_KEY; nothing was changed. Keep the key it was encrypted with in "
            "TWO_FACTOR_KEYS, after the new first key, and run this again."
        ) from None
    click.echo(f"Encrypted {count} two-factor secret(s) again with the first key.")


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def worker_command(once):
    """Send queued emails and webhooks until stopped, retrying failures with backoff."""
    from portal.worker import catch_up_search, drain, run_worker

    if once:
        catch_up_search()
        sent, failed = drain()
        click.echo(f"Sent {sent}, failed {failed} (will retry).")
    else:
        run_worker()


PRUNED = {
    "outbox_messages": "outbox messages sent or given up over {days} days ago",
    "webhook_deliveries": "settled webhook deliveries created over {days} days ago",
    "sessions": "ended sessions",
    "account_tokens": "used or expired account tokens",
    "spent_sign_ons": "used sign-on tokens past their expiry",
    "pending_intents": "intents pressed before signing in, over a day old",
}


@click.command("prune")
@with_appcontext
def prune_command():
    """Remove rows nobody needs any more (the worker does it every hour): sent outbox
    messages and webhook deliveries older than RETENTION_DAYS, ended sessions, used or
    expired account tokens, expired sign-on tokens, old intents pressed before signing in.
    Audit entries are never removed."""
    from portal.housekeeping import prune

    days = current_app.config["RETENTION_DAYS"]
    for kind, count in prune().items():
        click.echo(f"Removed {count} {PRUNED[kind].format(days=days)}.")


@click.command("search-reindex")
@with_appcontext
def search_reindex_command():
    """Rebuild the search index beside the old one and swap it in; searches keep working."""
    import time

    from portal.search.indexing import reindex_all

    started = time.monotonic()
    count = reindex_all()
    click.echo(f"Indexed {count} ideas in {time.monotonic() - started:.1f} s.")


def register(app) -> None:
    commands = (
        seed_demo_command,
        create_user_command,
        sign_in_link_command,
        create_token_command,
        reset_two_factor_command,
        rotate_two_factor_key_command,
        worker_command,
        prune_command,
        search_reindex_command,
    )
    for command in commands:
        app.cli.add_command(command)
