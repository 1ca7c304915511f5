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


class SignUpForm(FlaskForm):
    email = EmailField("Email")
    name = StringField("Display name")
    password = PasswordField("Password")


class SignInForm(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password")
    remember = BooleanField("Remember me")


class ResetRequestForm(FlaskForm):
    email = EmailField("Email")


class ResetForm(FlaskForm):
    password = PasswordField("New password")


class SecondFactorForm(FlaskForm):
    code = StringField("Authentication code")


class TwoFactorSetupForm(FlaskForm):
    secret = HiddenField()
    code = StringField("Code from the app")


class ProofForm(FlaskForm):
    """Turning two-factor sign-in off, or new recovery codes: proof it is really you."""

    proof = PasswordField("A current code, or your password")


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password")
    new_password = PasswordField("New password")


class DeleteAccountForm(FlaskForm):
    password = PasswordField("Your password")


class IdeaForm(FlaskForm):
    title = StringField("Title")
    body = TextAreaField("Description")
    category = SelectField("Category", choices=[], validate_choice=False)
    submission_key = HiddenField()
    confirmed = HiddenField()


class CommentForm(FlaskForm):
    body = TextAreaField("Comment")


class StatusForm(FlaskForm):
    status = SelectField("New status", choices=[], validate_choice=False)
    response = TextAreaField("Public response")


class ActionForm(FlaskForm):
    """A button-only form (vote, subscribe, sign out): just the CSRF token."""


def show_errors(form, error) -> None:
    """Put an OperationError's field messages next to the fields they belong to."""
    for name, message in error.fields.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
