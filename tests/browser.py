"""What every browser suite shares, loaded as a pytest plugin by conftest.py: Debian's
chromium (module-scoped, failing instead of skipping in CI), a live server of an app on
127.0.0.1 with CSRF on (`live`, and `factory` to fill it), and where screenshots go."""

import email
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from conftest import Factory, empty_tables, free_port
from portal import create_app
from portal.extensions import db
from portal.search import get_backend
from portal.worker import drain

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=DnsPrefetch",
]
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def chromium():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: the browser tests need Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (a browser test that skips in CI is a failure)")
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def live_app(folder: Path, url: str):
    """An app as a browser meets it: CSRF on, its own SQLite file, mail to a folder."""
    return create_app(
        {
            "ENV": {"PORTAL_ENV": "development"},
            "INSTANCE_PATH": str(folder / "instance"),
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'browser.db'}",
            "WTF_CSRF_ENABLED": True,
            "MAIL_URL": f"file://{folder / 'mail'}",
            "SEARCH_INDEX_DIR": str(folder / "search"),
            "BASE_URL": url,
        }
    )


@contextmanager
def serving(app, port: int, name: str = "live-server"):
    """app answers on 127.0.0.1:port, from a thread, while the block runs."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Live:
    """The app under test, the address it answers on and the folder its mail goes to."""

    app: object
    url: str
    mail_dir: Path

    def drain_outbox(self) -> None:
        with self.app.app_context():
            sent, failed = drain()
        assert failed == 0 and sent > 0, (sent, failed)

    def newest_mail(self) -> EmailMessage:
        files = sorted(self.mail_dir.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns)
        assert files, f"no mail in {self.mail_dir}"
        return email.message_from_bytes(files[-1].read_bytes(), policy=policy.default)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A live server on a free port for an app with CSRF on and its own SQLite file."""
    folder = tmp_path_factory.mktemp("browser")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = live_app(folder, url)
    with app.app_context():
        db.create_all()
    with serving(app, port):
        yield Live(app, url, folder / "mail")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def factory(live):
    with live.app.app_context():
        empty_tables()
        get_backend().rebuild([])
    for old in live.mail_dir.glob("*.eml"):
        old.unlink()
    return Factory(live.app)
