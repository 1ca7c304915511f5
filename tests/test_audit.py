"""The audit log: every staff action, for admins, filterable, append-only (issue 5, point 6)."""

import pytest

from conftest import htmx_headers
from portal.models import Role


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_read_the_audit_log(client, make, auth, role):
    auth.login(make.user(role))
    assert client.get("/admin/audit").status_code == 403


def test_staff_actions_are_listed_and_filtered(client, make, auth):
    number = make.idea(make.board(), make.user(), "Dark mode for the editor")
    owner = make.user(Role.OWNER, name="Olga Owner")
    auth.login(owner)
    client.post(f"/ideas/{number}/status", data={"status": "planned"})
    auth.logout()
    auth.login(make.user(Role.ADMIN, name="Ada Admin"))
    client.post("/admin/site", data={"site_name": "Acme", "accent": "#1f6feb"})
    page = client.get("/admin/audit").text
    assert "idea.status" in page and "site.settings" in page
    assert "Olga Owner" in page and "Ada Admin" in page
    assert '{"status": "open"}' in page and '{"status": "planned"}' in page
    only_olga = client.get("/admin/audit?person=olga", headers=htmx_headers()).text
    assert "<html" not in only_olga
    assert "idea.status" in only_olga and "site.settings" not in only_olga
    by_action = client.get("/admin/audit?action=site.settings").text
    assert "site.settings" in by_action and "Olga Owner" not in by_action
    by_target = client.get(f"/admin/audit?target=idea {1}").text
    assert "idea.status" in by_target


def test_no_route_changes_an_audit_entry(app):
    """Append-only: the only audit routes read."""
    rules = [rule for rule in app.url_map.iter_rules() if "audit" in rule.rule]
    assert rules and all(rule.methods <= {"GET", "HEAD", "OPTIONS"} for rule in rules)
