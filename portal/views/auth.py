"""Sign-up, email confirmation, sign-in and -out, and password reset."""

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from portal.extensions import db, limiter
from portal.forms import ResetForm, ResetRequestForm, SignInForm, SignUpForm, show_errors
from portal.operations import OperationError, ValidationError
from portal.operations.accounts import (
    authenticate,
    confirm_email,
    register_user,
    request_password_reset,
    reset_password,
    send_verification,
)
from portal.ratelimits import limit_for
from portal.views.helpers import safe_next

bp = Blueprint("auth", __name__)

CHECK_EMAIL = "Check your email: we sent you a link to confirm your address."


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(limit_for("signup"), methods=["POST"])
def signup():
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            register_user(form.email.data, form.name.data, form.password.data)
            db.session.commit()
        except ValidationError as invalid:
            db.session.rollback()
            show_errors(form, invalid)
        else:
            # No session yet: signing in here would tell a taken address from a new one.
            flash(CHECK_EMAIL, "info")
            return redirect(url_for("public.index"), code=303)
    return render_template("auth/signup.html", form=form), 422 if form.errors else 200


@bp.get("/verify/<token>")
def verify(token):
    try:
        user = confirm_email(token)
        db.session.commit()
    except OperationError as refused:
        db.session.rollback()
        flash(refused.message, "error")
        return redirect(url_for("public.index"), code=303)
    if current_user.is_authenticated:
        flash(f"Thanks, {user.name}: your email address is confirmed.", "success")
        return redirect(url_for("public.index"), code=303)
    flash(
        f"Thanks, {user.name}: your email address is confirmed. Sign in to post and vote.",
        "success",
    )
    return redirect(url_for("auth.signin"), code=303)


@bp.post("/verify/resend")
@login_required
@limiter.limit(limit_for("reset"))
def resend_verification():
    if current_user.email_verified_at is None:
        send_verification(current_user)
        db.session.commit()
    flash(CHECK_EMAIL, "info")
    return redirect(url_for("account.profile"), code=303)


def _start_session(user, remember: bool) -> None:
    session.clear()  # a fresh session at sign-in: nothing carries over from before
    login_user(user, remember=remember)


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(limit_for("signin"), methods=["POST"])
def signin():
    form = SignInForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            _start_session(user, remember=form.remember.data)
            flash(f"Welcome back, {user.name}.", "success")
            return redirect(safe_next(url_for("public.index")), code=303)
        form.password.errors = ["That email and password do not match an account."]
    status = 422 if form.errors else 200
    return render_template("auth/signin.html", form=form, next=safe_next("")), status


@bp.post("/signout")
def signout():
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("public.index"), code=303)


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(limit_for("reset"), methods=["POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        request_password_reset(form.email.data or "")
        db.session.commit()
        flash("If that address has an account, a reset link is on its way.", "info")
        return redirect(url_for("auth.signin"), code=303)
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token):
    form = ResetForm()
    if form.validate_on_submit():
        try:
            user = reset_password(token, form.password.data)
            db.session.commit()
        except ValidationError as invalid:
            db.session.rollback()
            show_errors(form, invalid)
        except OperationError as refused:
            db.session.rollback()
            flash(refused.message, "error")
            return redirect(url_for("auth.reset_request"), code=303)
        else:
            _start_session(user, remember=False)
            flash("Your password is changed and you are signed in.", "success")
            return redirect(url_for("public.index"), code=303)
    return render_template("auth/reset.html", form=form, token=token), 422 if form.errors else 200
