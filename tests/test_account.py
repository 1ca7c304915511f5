"""The profile page: a person's ideas, votes and email settings."""

from portal.extensions import db
from portal.models import User


def test_profile_lists_my_ideas_and_votes(client, make, auth):
    me = make.user()
    make.idea(make.board(), me, "Export reports as CSV")
    auth.login(me)
    page = client.get("/me").text
    assert "Export reports as CSV" in page and "Email notifications" in page


def test_email_preference_is_saved_and_bad_choices_refused(client, make, auth, app):
    me = make.user()
    auth.login(me)
    saved = client.post("/me/email-preference", data={"email_preference": "status"})
    assert saved.status_code == 303
    refused = client.post(
        "/me/email-preference", data={"email_preference": "spam"}, follow_redirects=True
    )
    assert "Choose one of the options." in refused.text
    with app.app_context():
        assert db.session.get(User, me.id).email_preference == "status"
