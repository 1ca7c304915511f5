"""Every payload of both corpora in a real browser, with the Content-Security-Policy
switched off (the sanitiser alone must hold) and on: no dialog opens, no sentinel runs, no
request leaves the machine.

Debian's chromium, driven by Playwright, loads the pages that show the payloads, many at
a time (a board of one idea per payload, a thread of one comment per payload, the search
results, the roadmap and changelog, the review queue and the admin pages), also swapping
htmx fragments in. An init script records every call of alert, confirm, prompt and print
and of a `__sentinel` function some payloads here call; after each page a DOM audit looks
for event-handler attributes, script URLs and elements no template writes, as parsed by
the browser itself. Every request not to 127.0.0.1 is aborted and counted.
"""

import json
from urllib.parse import urlsplit

import pytest
from browser import ARTIFACTS, live_app, serving
from hostile import (
    MARKER,
    add_person,
    add_threads,
    build_site,
    corpus,
    insert_rows,
    items_for,
    one_line,
    webhook_url,
)

from conftest import PASSWORD, empty_tables, free_port
from portal.extensions import db
from portal.markup import clean_text, render_markdown
from portal.models import Board, Role, Webhook
from portal.operations import moderation
from portal.search import get_backend
from portal.settings import save_settings
from portal.views import roadmap

pytestmark = pytest.mark.browser

TIMEOUT_MS = 60_000
# Payloads that call a function only this test defines: if any runs, it is recorded.
SENTINELS = [
    "<img src=x onerror=__sentinel('img')>",
    "<svg onload=__sentinel('svg')>",
    '"><script>__sentinel("script")</script>',
    "<a href=\"javascript:__sentinel('a')\">click</a>",
    "[click](javascript:__sentinel('markdown'))",
    "<details open ontoggle=__sentinel('details')>",
    "<input autofocus onfocus=__sentinel('focus')>",
    "<iframe srcdoc=\"<script>parent.__sentinel('srcdoc')</script>\">",
]

RECORDER = """
window.__calls = [];
const record = (name) => (...args) => { window.__calls.push(name + "(" + args.join(",") + ")"); };
window.__sentinel = record("__sentinel");
for (const name of ["alert", "confirm", "prompt", "print"]) {
  try { window[name] = record(name); } catch (e) {}
}
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""

# What the browser itself parsed: anything here that would run, or came from input as markup.
DOM_AUDIT = """
() => {
  const problems = [];
  const urlAttributes = ["href", "src", "action", "formaction", "xlink:href", "data", "poster",
                         "background", "srcset", "ping", "cite", "codebase"];
  const never = ["IFRAME", "FRAME", "FRAMESET", "OBJECT", "EMBED", "APPLET", "BASE", "STYLE",
                 "TEMPLATE", "IMG", "VIDEO", "AUDIO", "FOREIGNOBJECT", "ANIMATE", "SET", "USE",
                 "IMAGE", "MATH", "MARQUEE", "ISINDEX", "XMP", "NOEMBED", "PLAINTEXT"];
  for (const element of document.querySelectorAll("*")) {
    const tag = element.tagName.toUpperCase();
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      const value = attribute.value.replace(/[\\x00-\\x20\\x7f]+/g, "");
      if (name.startsWith("on")) problems.push(tag + " " + name);
      if (urlAttributes.includes(name) && /^(javascript|vbscript|data|livescript):/i.test(value))
        problems.push(tag + " " + name + "=" + value.slice(0, 60));
      if (name === "srcdoc") problems.push(tag + " srcdoc");
    }
    if (never.includes(tag)) problems.push(tag);
    if (tag === "META" && element.httpEquiv) problems.push("META http-equiv");
    // Ours: the vendored htmx and static/js/stimme.js, with this answer's nonce.
    const ours = /\\/static\\/(vendor\\/htmx-[\\d.]+\\.min|js\\/stimme)\\.js$/.test(element.src)
      && element.nonce;
    if (tag === "SCRIPT" && !ours) problems.push("SCRIPT " + element.outerHTML.slice(0, 80));
  }
  return problems;
}
"""


class Tally:
    """What the browser did across every page: the figures for SECURITY.md."""

    def __init__(self):
        self.pages, self.dialogs, self.calls, self.blocked, self.violations = 0, [], [], [], []
        self.payloads_on_pages = 0


class Site:
    def __init__(self, url, items, staff, threads):
        self.url, self.items, self.staff, self.threads = url, items, staff, threads


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A live server (CSRF on, mail to a folder) whose database holds every payload: one
    board with an idea per payload, the comment and answer threads, a board, a webhook and
    a flag note per payload, and the guidelines."""
    folder = tmp_path_factory.mktemp("hostile-browser")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = live_app(folder, url)
    items = items_for([*corpus(), *SENTINELS])
    app.config["PER_PAGE"] = len(items)  # every idea on one page
    with app.app_context():
        db.create_all()
        empty_tables()
        get_backend().rebuild([])
        staff = {
            role: add_person(
                f"{role.name.title()} Person", role, email=f"{role.name.lower()}@example.com"
            )
            for role in (Role.ADMIN, Role.OWNER, Role.MODERATOR)
        }
        db.session.flush()
        build_site(items, staff[Role.OWNER], per_board=len(items))
        threads = add_threads(items, staff[Role.OWNER].id, stride=len(items) // 90 + 1)
        insert_rows(
            Board,
            [
                {
                    "slug": f"p{item.n}",
                    "name": item.name,
                    "position": 1 + item.n,
                    "description": clean_text(item.text)[:2000],
                }
                for item in items
            ],
        )
        insert_rows(
            Webhook,
            [
                {
                    "url": webhook_url(item.text),
                    "events": ["idea.created"],
                    "description": one_line(item.text)[:200],
                    "secret": "whsec_t",
                    "is_active": False,
                    "failure_streak": 0,
                }
                for item in items
            ],
        )
        guidelines = "\n\n".join(clean_text(item.text) for item in items[:60])[:5000]
        save_settings({"guidelines": guidelines, "guidelines_html": render_markdown(guidelines)})
        db.session.commit()
        for user in staff.values():
            db.session.refresh(user)
            db.session.expunge(user)
    patches = pytest.MonkeyPatch()
    patches.setattr(roadmap, "LANE_SHOWN", len(items))
    patches.setattr(roadmap, "CHANGELOG_PAGE", len(items))
    patches.setattr(moderation.review_queue, "__defaults__", (len(items),))
    with serving(app, port, "hostile-server"):
        yield Site(url, items, staff, threads)
    patches.undo()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def tally():
    tally = Tally()
    yield tally
    ARTIFACTS.mkdir(exist_ok=True)
    figures = {
        "pages loaded": tally.pages,
        "dialogs": len(tally.dialogs),
        "sentinel calls": len(tally.calls),
        "blocked requests": len(tally.blocked),
        "CSP violations (with the policy on)": len(tally.violations),
        "blocked addresses": sorted(set(tally.blocked))[:50],
    }
    (ARTIFACTS / "hostile-browser-figures.json").write_text(json.dumps(figures, indent=1))


def browse(chromium, site, tally, csp: bool):
    context = chromium.new_context(base_url=site.url, bypass_csp=not csp)
    context.set_default_timeout(TIMEOUT_MS)

    def only_local(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            tally.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    context.add_init_script(RECORDER)
    page = context.new_page()

    def on_dialog(dialog):
        tally.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return context, page


def settle(page, tally, what: str, csp: bool) -> None:
    """Let onload, autofocus and animation handlers fire, then audit what the page holds."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(150)
    tally.pages += 1
    tally.calls += [f"{what}: {call}" for call in page.evaluate("window.__calls")]
    if csp:
        tally.violations += [f"{what}: {v}" for v in page.evaluate("window.__violations")]
    problems = page.evaluate(DOM_AUDIT)
    assert problems == [], f"{what}: {problems[:10]}"
    assert tally.dialogs == [] and tally.calls == [], (what, tally.dialogs, tally.calls)


def visit(page, tally, path: str, csp: bool, texts: int = 0) -> None:
    page.goto(path, wait_until="load")
    settle(page, tally, path, csp)
    tally.payloads_on_pages += texts


def sign_in(page, user) -> None:
    page.goto("/signin")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/signin" not in url)


@pytest.mark.parametrize("csp", [False, True], ids=["csp-off", "csp-on"])
def test_payload_pages_run_nothing(chromium, site, tally, csp):
    context, page = browse(chromium, site, tally, csp)
    n = len(site.items)
    try:
        number = site.items[0].number
        visit(page, tally, "/", csp, 2 * n)  # every board's name and description
        visit(page, tally, f"/b/{site.items[0].board}?status=&sort=new", csp, 3 * n)
        assert page.locator(".idea-card").count() == n
        page.select_option("select[name=sort]", "top")  # htmx swaps the list in
        page.wait_for_function("document.querySelector('#idea-list') !== null")
        page.wait_for_load_state("networkidle")
        settle(page, tally, "board list swapped by htmx", csp)
        tally.payloads_on_pages += 3 * n
        comments, answers = site.threads
        visit(page, tally, f"/ideas/{comments}", csp, 2 * n)
        assert page.locator(".event.comment").count() == n
        visit(page, tally, f"/ideas/{answers}", csp, n)
        visit(page, tally, f"/search?q={MARKER}", csp, 2 * n)
        visit(page, tally, "/roadmap", csp, n)
        visit(page, tally, "/changelog", csp, 2 * n)
        assert page.locator(".changelog-entry").count() == n
        for item in site.items[:: n // 4]:
            visit(page, tally, f"/ideas/{item.number}", csp, 5)
        for item in site.items[:: n // 4]:
            page.goto("/search")
            page.fill("#q", clean_text(item.text)[:200])
            page.press("#q", "Enter")  # htmx replaces the results
            page.wait_for_load_state("networkidle")
            settle(page, tally, f"search for {item.text[:40]!r}", csp)
        sign_in(page, site.staff[Role.MODERATOR])
        visit(page, tally, "/moderation", csp, n)
        assert page.locator(".flag-reasons li").count() == n
        visit(page, tally, f"/ideas/{number}", csp, 5)  # with the staff tools
        page.get_by_role("button", name="Sign out").click()
        sign_in(page, site.staff[Role.ADMIN])
        visit(page, tally, "/admin/webhooks", csp, 2 * n)
        visit(page, tally, "/admin/boards", csp, n)
        visit(page, tally, f"/admin/boards/{site.items[0].board}", csp, n)
        visit(page, tally, "/admin/site", csp, 60)
        visit(page, tally, f"/b/{site.items[0].board}/new", csp, 60 + n)
        visit(page, tally, "/admin/users?q=hostile", csp, 50)
    finally:
        context.close()
    assert tally.dialogs == [] and tally.calls == [] and tally.blocked == []
    if csp:
        assert tally.violations == [], tally.violations[:10]
