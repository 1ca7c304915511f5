"""Forms carry labels, kept values and the CSRF token; the rules live in operations."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import EmailField

from portal.i18n import lazy_gettext as _l


class SignUpForm(FlaskForm):
    email = EmailField(_l("Email"))
    name = StringField(_l("Display name"))
    password = PasswordField(_l("Password"))


class SignInForm(FlaskForm):
    email = EmailField(_l("Email"))
    password = PasswordField(_l("Password"))
    remember = BooleanField(_l("Remember me"))


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("Email"))


class ResetForm(FlaskForm):
    password = PasswordField(_l("New password"))


class SecondFactorForm(FlaskForm):
    code = StringField(_l("Authentication code"))


class TwoFactorSetupForm(FlaskForm):
    secret = HiddenField()
    code = StringField(_l("Code from the app"))


class ProofForm(FlaskForm):
    """Turning two-factor sign-in off, or new recovery codes: proof it is really you."""

    proof = PasswordField(_l("A current code, or your password"))


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"))
    new_password = PasswordField(_l("New password"))


class RemovePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"))


class DeleteAccountForm(FlaskForm):
    password = PasswordField(_l("Your password"))
    email = StringField(_l("Your email address"))  # for an account without a password


class IdeaForm(FlaskForm):
    title = StringField(_l("Title"))
    body = TextAreaField(_l("Description"))
    category = SelectField(_l("Category"), choices=[], validate_choice=False)
    submission_key = HiddenField()
    confirmed = HiddenField()


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Comment"))


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), choices=[], validate_choice=False)
    response = TextAreaField(_l("Public response"))


class ActionForm(FlaskForm):
    """A button-only form (vote, subscribe, sign out): just the CSRF token."""


def show_errors(form, error) -> None:
    """Put an OperationError's field messages next to the fields they belong to."""
    for name, message in error.fields.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
