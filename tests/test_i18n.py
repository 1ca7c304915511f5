"""English and German (issue 9, point 1): who gets which language, that pages, dates and
mails follow it, and that the German catalogue covers every text (portal/i18n.py)."""

import re
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import lxml.html
import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from test_pagecache import other_process

from conftest import PASSWORD, text_and_html
from portal.extensions import db
from portal.models import Idea, Role, User, utcnow

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "portal" / "translations" / "de" / "LC_MESSAGES"
GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


@pytest.fixture
def idea(make):
    return make.idea(make.board(), make.user(name="Ada"), "Export reports as CSV")


def html_lang(page: str) -> str:
    return re.search(r'<html lang="(\w+)"', page).group(1)


# -- who gets which language ------------------------------------------------------------


def test_the_browser_language_decides_for_visitors(client, idea):
    assert html_lang(client.get("/b/features").text) == "en"
    page = client.get("/b/features", headers=GERMAN).text
    assert html_lang(page) == "de"
    assert "Anmelden" in page and "Sign in" not in page
    # A language we do not have falls back to English.
    assert html_lang(client.get("/b/features", headers={"Accept-Language": "fr"}).text) == "en"


def test_a_visitor_picks_a_language_in_the_footer(client, idea):
    page = client.get("/b/features").text
    link = re.search(r'href="(/language/de\?next=[^"]+)"', page).group(1)
    answer = client.get(link.replace("&amp;", "&"))
    assert answer.status_code == 303 and answer.headers["Location"] == "/b/features"
    assert html_lang(client.get("/b/features").text) == "de"  # the cookie, not the browser
    assert client.get("/language/xx").status_code == 404


def test_a_persons_setting_wins_over_the_browser_and_is_kept(client, make, auth, app, idea):
    person = make.user()
    auth.login(person)
    answer = client.post("/language", data={"language": "de", "next": "/me"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/me"
    english_browser = {"Accept-Language": "en"}
    assert html_lang(client.get("/me", headers=english_browser).text) == "de"
    with app.app_context():
        assert db.session.get(User, person.id).locale == "de"
    # "My browser's language" hands the choice back to Accept-Language.
    client.post("/language", data={"language": ""})
    assert html_lang(client.get("/me", headers=english_browser).text) == "en"
    assert html_lang(client.get("/me", headers=GERMAN).text) == "de"
    assert client.post("/language", data={"language": "klingon"}).status_code == 400


def test_signing_in_switches_to_the_accounts_language_at_once(client, make):
    person = make.user(name="Grete", locale="de")
    answer = client.post(
        "/signin",
        data={"email": person.email, "password": PASSWORD},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert html_lang(answer.text) == "de" and "Willkommen zurück, Grete." in answer.text


def test_the_sign_in_prompt_is_in_the_visitors_language(client):
    answer = client.get("/me", headers=GERMAN, follow_redirects=True)
    assert "Bitte melden Sie sich an, um fortzufahren." in answer.text


def test_a_deleted_author_is_named_in_the_readers_language(client, app, make):
    from portal.operations.accounts import delete_account

    author = make.user(name="Gone")
    number = make.idea(make.board(), author, "Export reports as CSV")
    with app.app_context():
        delete_account(db.session.get(User, author.id), PASSWORD)
        db.session.commit()
    assert "Gelöschter Benutzer" in client.get(f"/ideas/{number}", headers=GERMAN).text
    assert "Deleted user" in client.get(f"/ideas/{number}").text
    idea = client.get(f"/api/v1/ideas/{number}", headers=GERMAN).json
    assert idea["author"]["name"] == "Deleted user"


def test_choosing_a_language_for_the_account_needs_an_account(client):
    answer = client.post("/language", data={"language": "de"})
    assert answer.status_code in (302, 303) and "/signin" in answer.headers["Location"]


def test_signing_up_keeps_the_language_it_was_done_in(client, app):
    client.post(
        "/signup",
        data={"name": "Berta", "email": "berta@example.com", "password": "a long password 1"},
        headers=GERMAN,
    )
    with app.app_context():
        assert (
            db.session.scalar(db.select(User.locale).filter_by(email="berta@example.com")) == "de"
        )


# -- what follows the language ----------------------------------------------------------


def test_dates_read_naturally_in_each_language(client, app, idea):
    with app.app_context():
        row = db.session.scalar(db.select(Idea).filter_by(number=idea))
        row.created_at = utcnow() - timedelta(days=3)
        db.session.commit()
    assert "3 days ago" in client.get(f"/ideas/{idea}").text
    assert "vor 3 Tagen" in client.get(f"/ideas/{idea}", headers=GERMAN).text


def test_numbers_are_grouped_the_local_way(client, app, idea):
    with app.app_context():
        db.session.scalar(db.select(Idea).filter_by(number=idea)).vote_count = 12345
        db.session.commit()
    count = re.compile(r'data-vote-count="12345">([^<]+)<')
    assert count.search(client.get("/b/features").text).group(1) == "12,345"
    assert count.search(client.get("/b/features", headers=GERMAN).text).group(1) == "12.345"


def test_the_api_answers_in_english_whatever_the_browser_says(client, api, make, idea):
    """Programs read the API: its messages stay English even for a German account."""
    token = api.token(make.user(locale="de"))
    headers = {"Authorization": f"Bearer {token}", **GERMAN}
    refused = client.post(f"/api/v1/ideas/{idea}/status", json={"status": "x"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == "Only the product team changes an idea's status."
    assert client.get(f"/api/v1/ideas/{idea}", headers=GERMAN).json["status_label"] == "Open"


@contextmanager
def second_process(app, tmp_path, **config):
    """Another instance on the suite's database (test_pagecache), closed when done: a pool
    left to the garbage collector warns in whichever test runs then."""
    second = other_process(app, tmp_path, **config)
    try:
        yield second
    finally:
        with second.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def second(app, tmp_path):
    with second_process(app, tmp_path) as instance:
        yield instance


def test_cached_pages_are_kept_per_language(second, idea):
    """The visitors' page cache must not hand a German page to an English browser."""
    browser = second.test_client()
    english = browser.get("/b/features")
    german = browser.get("/b/features", headers=GERMAN)
    assert html_lang(english.text) == "en" and html_lang(german.text) == "de"
    assert html_lang(browser.get("/b/features").text) == "en"
    assert html_lang(browser.get("/b/features", headers=GERMAN).text) == "de"
    assert "Accept-Language" in english.headers["Vary"]


def test_signed_in_pages_are_kept_per_language(second, make, idea):
    readers = []
    for locale in ("en", "de", "en"):
        person = make.user(locale=locale)
        browser = second.test_client()
        browser.post("/signin", data={"email": person.email, "password": PASSWORD})
        readers.append(browser)
    pages = [browser.get("/b/features").text for browser in readers]
    assert [html_lang(page) for page in pages] == ["en", "de", "en"]


def test_mails_are_written_in_the_recipients_language(client, make, auth, app, mailbox, idea):
    from test_status import change, vote_for

    german, english = make.user(name="Grete", locale="de"), make.user(name="Eve", locale="en")
    vote_for(app, idea, german, english)
    auth.login(make.user(Role.OWNER))
    change(client, idea, "planned", "Bald.", **{"Accept-Language": "en"})
    messages = mailbox.receive() + mailbox.receive()
    mail = {message["To"]: message for message in messages}
    german_text, german_html = text_and_html(mail[german.email])
    english_text = text_and_html(mail[english.email])[0]
    assert "Geplant" in mail[german.email]["Subject"] and "Geplant" in german_text
    assert "Geplant" in german_html
    assert "Planned" in mail[english.email]["Subject"] and "Planned" in english_text
    assert "Geplant" not in english_text


# -- the catalogue ----------------------------------------------------------------------


def extracted_messages(tmp_path):
    """What `make translations` would collect from the code and templates today."""
    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    arguments = ["extract", "-F", "babel.cfg", "-k", "lazy_gettext", "-k", "_l", "-o", pot, "."]
    subprocess.run([pybabel, *arguments], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as handle:
        return read_po(handle)


def german_catalogue():
    with (CATALOGUE / "messages.po").open("rb") as handle:
        return read_po(handle)


def test_every_text_has_a_german_translation(tmp_path):
    german = german_catalogue()
    untranslated = []
    for message in extracted_messages(tmp_path):
        if not message.id:
            continue
        found = german.get(message.id)
        strings = found.string if found else None
        if (
            found is None
            or found.fuzzy
            or not all(strings if isinstance(strings, tuple) else (strings,))
        ):
            untranslated.append(message.id)
    assert untranslated == [], "run `make translations` and translate these"


def test_translations_keep_every_placeholder():
    problems = [
        (message.id, [str(error) for error in errors])
        for message, errors in german_catalogue().check()
    ]
    assert problems == []


def test_the_compiled_catalogue_matches_its_source():
    """The .mo file is committed: it must say what the .po file says."""
    german = german_catalogue()
    with (CATALOGUE / "messages.mo").open("rb") as handle:
        compiled = read_mo(handle)

    def text(message):
        strings = message.string if message else None
        return tuple(strings) if isinstance(strings, list | tuple) else strings

    stale = [
        message.id
        for message in german
        if message.id
        and all(message.string if isinstance(message.string, tuple) else [message.string])
        and text(compiled.get(message.id)) != text(message)
    ]
    assert stale == [], "run `make translations`"


# -- nothing left in English ------------------------------------------------------------

# Pages for each person (test_accessibility's main pages and a few more forms).
PSEUDO_PAGES = {
    None: ["/", "/b/features", "/ideas/{number}", "/search?q=export", "/search?q=zzzz",
           "/roadmap", "/changelog", "/signin", "/signup", "/reset", "/nowhere"],
    "customer": ["/b/features", "/ideas/{number}", "/b/features/new", "/me", "/notifications",
                 "/me/password", "/me/delete", "/me/two-factor"],
    "moderator": ["/moderation", "/ideas/{number}", "/ideas/{number}/edit"],
    "owner": ["/dashboard", "/ideas/{number}/status", "/ideas/{number}/voters"],
    "admin": ["/admin/boards", "/admin/boards/features", "/admin/site", "/admin/workflow",
              "/admin/users", "/admin/webhooks", "/admin/audit"],
}  # fmt: skip
# Forms sent wrong or right, for their error texts and the messages flashed after them.
PSEUDO_FORMS = {
    None: [("/signin", {"email": "nobody@example.com", "password": "wrong"}),
           ("/signup", {"name": "", "email": "not an address", "password": "short"}),
           ("/reset", {"email": "nobody@example.com"})],
    "customer": [("/b/features/new", {"title": "ab", "body": "7" * 10_001}),
                 ("/ideas/{number}/comments", {"body": ""}),
                 ("/ideas/{number}/flags", {"reason": "spam"}),
                 ("/ideas/{number}/vote", {"action": "vote", "weight": "9"}),
                 ("/ideas/{number}/subscription", {"level": ""}),
                 ("/me/password", {"current_password": "wrong", "new_password": "short"}),
                 ("/me/delete", {"password": "wrong"})],
    "owner": [("/ideas/{number}/status", {"status": "nonsense", "response": ""}),
              ("/ideas/{number}/merge", {"into": "999999"})],
    "admin": [("/admin/boards", {"name": "", "slug": "Not a slug!"})],
}  # fmt: skip
WRAPPED = re.compile(r"⟦[^⟦⟧]*⟧")
SEPARATOR = "\x01"
# Formatted by Babel from the locale's own data, not from our catalogue.
LOCALE_FORMATTED = re.compile(r"vor \d+ \w+|\d{1,2}\.\d{1,2}\.\d{4}|\d+(?:[.,]\d+)*")
SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")


@pytest.fixture
def pseudo_app(app, tmp_path):
    """A second instance whose "German" catalogue wraps every text in ⟦ ⟧, so a text that
    comes out unwrapped was never offered for translation."""
    from babel.messages.mofile import write_mo

    catalogue = extracted_messages(tmp_path)
    for message in catalogue:
        if message.id:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            wrapped = tuple(f"⟦{text}⟧" for text in ids)
            message.string = wrapped if isinstance(message.id, tuple) else wrapped[0]
    folder = tmp_path / "pseudo" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as handle:
        write_mo(handle, catalogue)
    with second_process(
        app,
        tmp_path,
        BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "pseudo"),
        PAGE_CACHE_SECONDS=0,
        MAIL_URL=f"file://{tmp_path / 'mail'}",
        BASE_URL="http://localhost",
    ) as instance:
        yield instance
    forget_loaded_translations(app)


@pytest.fixture(autouse=True)
def forget_loaded_translations_first(app):
    forget_loaded_translations(app)


def forget_loaded_translations(app):
    """Flask-Babel keeps loaded catalogues per process, not per app."""
    from portal.i18n import babel

    with app.app_context():
        babel.domain_instance.cache.clear()


def unwrapped_texts(page: str, known: list[str]) -> list[str]:
    """Visible texts (and read-aloud attributes) that did not come through the catalogue."""
    tree = lxml.html.fromstring(page)
    # Code, words marked as another language (the language names in the footer), and
    # identifiers marked translate="no" (the audit log's action codes, which its filter takes).
    for skipped in tree.xpath(
        "//script|//style|//pre|//code|//body//*[@lang]|//*[@translate='no']"
    ):
        skipped.drop_tree()
    texts = tree.xpath("//text()")
    texts += [value for name in SHOWN_ATTRIBUTES for value in tree.xpath(f"//@{name}")]
    texts += tree.xpath("//input[@type='submit']/@value")
    # One string, so that a message with markup inside (split over several text nodes)
    # and a title split by search highlights are seen whole; what is left between the
    # translated texts is reported piece by piece.
    text = "".join(texts)
    while WRAPPED.search(text):
        text = WRAPPED.sub(SEPARATOR, text)
    for value in known:
        text = text.replace(value, " ")
    text = LOCALE_FORMATTED.sub(" ", text)
    pieces = (" ".join(piece.split()) for piece in text.split(SEPARATOR))
    return [piece for piece in pieces if re.search(r"[A-Za-z]{2}", piece)]


def test_every_text_on_the_main_pages_goes_through_the_catalogue(pseudo_app, make):
    from types import SimpleNamespace

    from test_accessibility import a_lived_in_site

    number, people = a_lived_in_site(make, SimpleNamespace(app=pseudo_app))
    with pseudo_app.app_context():
        from portal.markup import plain_excerpt
        from portal.models import Board, Category, Comment, CustomStatus
        from portal.settings import site_settings

        known = [u.name for u in db.session.scalars(db.select(User))]
        known += [u.email for u in db.session.scalars(db.select(User))]
        known += [i.title for i in db.session.scalars(db.select(Idea))]
        # Cards show a plain excerpt of each description (portal/markup.py).
        known += [plain_excerpt(i.body_html) for i in db.session.scalars(db.select(Idea))]
        known += [c.body for c in db.session.scalars(db.select(Comment))]
        known += [b.name for b in db.session.scalars(db.select(Board))]
        known += [b.description for b in db.session.scalars(db.select(Board))]
        known += [c.name for c in db.session.scalars(db.select(Category))]
        known += [s.label for s in db.session.scalars(db.select(CustomStatus))]  # admins' words
        known += ["We need", "this", "weekly", "We will build this next quarter."]
        known.append(site_settings()["site_name"])
    known = sorted(set(known), key=len, reverse=True)
    leftovers = {}
    for role, paths in PSEUDO_PAGES.items():
        browser = pseudo_app.test_client()
        if role:
            browser.post(
                "/signin",
                data={"email": people[role].email, "password": PASSWORD},
                headers=GERMAN,
            )
        for path in paths:
            url = path.format(number=number)
            answer = browser.get(url, headers=GERMAN)
            assert answer.status_code in (200, 404), f"{url}: {answer.status_code}"
            for text in unwrapped_texts(answer.text, known):
                leftovers.setdefault(text, f"{role or 'visitor'} {url}")
        for path, form in PSEUDO_FORMS.get(role, []):
            url = path.format(number=number)
            answer = browser.post(url, data=form, headers=GERMAN, follow_redirects=True)
            assert answer.status_code < 500, f"POST {url}: {answer.status_code}"
            for text in unwrapped_texts(answer.text, known):
                leftovers.setdefault(text, f"{role or 'visitor'} POST {url}")
    assert leftovers == {}, "\n".join(f"{where}: {text!r}" for text, where in leftovers.items())


def admin_resets_two_factor(pseudo_app, make, person) -> list[str]:
    """An admin resets person's two-factor sign-in from the people page (the mail goes to
    person); returns the texts of that page, before and after, left out of the catalogue."""
    from test_totp import with_two_factor

    with_two_factor(pseudo_app, person)
    admin = make.user(Role.ADMIN, name="Olaf", locale="de")
    browser = pseudo_app.test_client()
    browser.post("/signin", data={"email": admin.email, "password": PASSWORD})
    with pseudo_app.app_context():
        from portal.settings import site_settings

        known = [value for user in db.session.scalars(db.select(User))
                 for value in (user.name, user.email)]  # fmt: skip
        known.append(site_settings()["site_name"])
    before = browser.get("/admin/users").text
    assert f"/admin/users/{person.id}/two-factor/reset" in before
    after = browser.post(f"/admin/users/{person.id}/two-factor/reset",
                         data={"proof": PASSWORD}, follow_redirects=True)  # fmt: skip
    return unwrapped_texts(before, known) + unwrapped_texts(after.text, known)


def test_every_mail_goes_through_the_catalogue(pseudo_app, make):
    """Account mails and notices, written for a reader whose language is the pseudo one."""
    from test_status import change, vote_for

    from portal.models import OutboxMessage
    from portal.worker import drain

    reader = make.user(name="Grete", locale="de")
    number = make.idea(make.board(), reader, "Export reports as CSV")
    vote_for(pseudo_app, number, make.user(name="Veit", locale="de"))
    visitor = pseudo_app.test_client()
    for form in (
        {"name": "Neu", "email": "neu@example.com", "password": PASSWORD},  # confirm address
        {"name": "Grete", "email": reader.email, "password": PASSWORD},  # already registered
    ):
        visitor.post("/signup", data=form, headers=GERMAN)
    visitor.post("/reset", data={"email": reader.email}, headers=GERMAN)
    staff = pseudo_app.test_client()
    owner = make.user(Role.OWNER, name="Olga", locale="en")
    staff.post("/signin", data={"email": owner.email, "password": PASSWORD})
    change(staff, number, "planned", "Bald.")
    staff.post(f"/ideas/{number}/comments", data={"body": "Danke."})
    assert admin_resets_two_factor(pseudo_app, make, reader) == []
    with pseudo_app.app_context():
        drain()
        drain()
        payloads = [row.payload for row in db.session.scalars(db.select(OutboxMessage))]
    mails = [p for p in payloads if "subject" in p and p["to"] != owner.email]
    assert len(mails) >= 5, [p["subject"] for p in mails]
    known = ["Grete", "Veit", "Olga", "Neu", "Export reports as CSV", "Bald.", "Danke.", "Features"]
    leftovers = {}
    for mail in mails:
        for part in ("subject", "text", "html"):
            text = mail.get(part) or ""
            if part == "html":
                text = " ".join(lxml.html.fromstring(text).xpath("//text()"))
            text = re.sub(r"https?://\S+|\S+@\S+", " ", text)
            while WRAPPED.search(text):
                text = WRAPPED.sub(" ", text)
            for value in known:
                text = text.replace(value, " ")
            text = LOCALE_FORMATTED.sub(" ", text)
            if re.search(r"[A-Za-z]{2}", text):
                leftovers[f"{mail['subject'][:40]} ({part})"] = " ".join(text.split())
    assert leftovers == {}, "\n".join(f"{k}: {v!r}" for k, v in leftovers.items())
