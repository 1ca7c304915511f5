"""Two-factor sign-in: setting it up, checking codes and recovery codes (each once), turning
it off, and an admin's reset for someone who lost both."""

import base64
import secrets

from werkzeug.security import check_password_hash

from portal import totp
from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.models import RecoveryCode, User
from portal.operations import OperationError, ValidationError
from portal.operations.accounts import absolute_url, send_account_mail, used_up
from portal.operations.admin import require_admin
from portal.operations.audit import record_audit
from portal.operations.hashes import digest
from portal.operations.sessions import end_other_sessions
from portal.operations.tokens import revoke_all_tokens
from portal.settings import site_settings
from portal.totp_keys import seal, unseal

RECOVERY_CODE_COUNT = 10
WRONG_CODE = _l("That code is not right. Codes change every 30 seconds, and each works once.")


def must_set_up_two_factor(user: User) -> bool:
    """Staff of a site that requires two-factor sign-in, who have not set it up yet."""
    return user.is_staff and not user.has_two_factor and _required_for_staff()


def _required_for_staff() -> bool:
    return site_settings().get("require_staff_two_factor") == "1"


def enable_two_factor(user: User, secret: str, code: str) -> list[str]:
    """Turn two-factor sign-in on once code shows the app holds secret; returns the
    recovery codes, to be shown this once. Raises OperationError."""
    if user.has_two_factor:
        raise OperationError(_("Two-factor sign-in is on already."))
    if not totp.is_secret(secret or ""):
        raise OperationError(_("That setup is not valid any more: start again."))
    step = totp.matching_step(secret, code or "", after=0)
    if step is None:
        raise ValidationError({"code": str(WRONG_CODE)})
    user.totp_secret, user.totp_last_step = seal(secret), step
    return _new_recovery_codes(user)


def check_second_factor(user: User, code: str) -> None:
    """Accept a code from the app or a recovery code, each only once; raises
    ValidationError.

    Both are used up by one conditional statement, so two sign-ins racing with the same
    code cannot both win (the second waits for the first's row lock, then finds nothing).
    Raises UnreadableSecret when the server's keys do not open the stored secret.
    """
    secret = unseal(user.totp_secret) if user.totp_secret else ""
    step = totp.matching_step(secret, code or "", after=user.totp_last_step)
    if step is not None and used_up(
        db.update(User)
        # The secret still set: an admin's reset meanwhile makes the code worthless.
        .where(User.id == user.id, User.totp_secret.is_not(None), User.totp_last_step < step)
        .values(totp_last_step=step)
    ):
        return
    if not used_up(
        db.delete(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _recovery_hash(code)
        )
    ):
        raise ValidationError({"code": str(WRONG_CODE)})


def disable_two_factor(user: User, proof: str) -> None:
    """Turn two-factor sign-in off, given a current code or the password; raises
    ValidationError."""
    if user.is_staff and _required_for_staff():
        raise OperationError(_("This site requires two-factor sign-in for its staff."))
    _require_two_factor(user)
    _confirm_identity(user, proof)
    _forget_second_factor(user)


def _forget_second_factor(user: User) -> None:
    user.totp_secret = None
    db.session.execute(db.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def replace_recovery_codes(user: User, proof: str) -> list[str]:
    """New recovery codes (the old ones stop working), given a current code or the
    password; raises ValidationError."""
    _require_two_factor(user)
    _confirm_identity(user, proof)
    return _new_recovery_codes(user)


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(db.select(db.func.count(RecoveryCode.id)).filter_by(user_id=user.id))


def _require_two_factor(user: User) -> None:
    if not user.has_two_factor:
        raise OperationError(_("Two-factor sign-in is off."))


def _confirm_identity(user: User, proof: str) -> None:
    """Proof that user is at the keyboard: their password, or a current code (each once)
    if they use two-factor sign-in; raises ValidationError."""
    if check_password_hash(user.password_hash, proof or ""):
        return
    if not user.has_two_factor:
        raise ValidationError({"proof": _("That is not your password.")})
    try:
        check_second_factor(user, proof)
    except ValidationError:
        raise ValidationError({"proof": _("Enter a current code or your password.")}) from None


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(db.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _count in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 80 random bits
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(c)) for c in codes)
    return codes


def _recovery_hash(code: str) -> str:
    """Recovery codes match however they are typed: case, spaces and dashes do not count."""
    return digest("".join(ch for ch in (code or "").lower() if ch.isalnum()))


def reset_two_factor(actor: User | None, user: User, proof: str = "") -> tuple[int, int]:
    """Turn off two-factor sign-in for someone who lost their app and recovery codes: the
    secret and codes go, every session and API token of theirs ends, and they are told by
    mail. actor is an admin other than user, who confirms with their own password or code
    (proof), or None for the operator at the command line. Returns how many sessions ended
    and how many tokens were revoked; raises PermissionDenied, ValidationError (a wrong
    proof) or OperationError."""
    if actor is not None:
        require_admin(actor)
        if actor.id == user.id:
            raise OperationError(_("Turn off your own two-factor sign-in on your profile."))
        _confirm_identity(actor, proof)  # a hijacked admin session alone takes no account
    if not user.has_two_factor:
        raise OperationError(_("%(name)s does not use two-factor sign-in.", name=user.display_name))
    codes = recovery_codes_left(user)
    _forget_second_factor(user)
    # A thief holding a session or an API token of theirs is out too.
    ended, revoked = end_other_sessions(user, keep_token=None), revoke_all_tokens(user)
    after = {"two_factor": False, "sessions_ended": ended, "tokens_revoked": revoked}
    if actor is None:
        after["by"] = "command line"
    record_audit(actor, "user.reset_two_factor", user,
                 {"two_factor": True, "recovery_codes": codes}, after)  # fmt: skip
    send_account_mail(user, _l("Two-factor sign-in was turned off on your account"),
                      "two_factor_reset", link=absolute_url("account.two_factor"),
                      asked_at_sign_in=must_set_up_two_factor(user),
                      tokens_revoked=revoked)  # fmt: skip
    return ended, revoked
