"""Who may do what (issue 8, point 2), generated from tests/permissions.toml.

Every route and method the app serves is a row of the matrix; each row is tried as seven
people (tests/matrix.py), and every table of the database is compared before and after:
a refused request answers its exact status and changes nothing, an allowed write changes
something, and no GET changes anything (plain or as an htmx request) apart from what a
row records on purpose.
"""

import pytest

from conftest import empty_tables
from matrix import (
    ROLES,
    app_routes,
    build_world,
    is_sign_in_redirect,
    load_matrix,
    sign_in_with,
)
from portal.extensions import limiter

ROWS, BOOKKEEPING = load_matrix()
FIGURES = {"cases": 0, "unexpected successes": 0, "unexpected changes": 0, "known (xfail)": 0}


@pytest.fixture(autouse=True)
def _clean_state():
    """Replaces conftest's per-test emptying: the world is built once for the module and
    put back after each request that changed it."""
    limiter.reset()


@pytest.fixture(scope="module")
def world(app):
    yield build_world(app, sign_in_with(app), BOOKKEEPING)
    with app.app_context():
        empty_tables()


def test_the_matrix_lists_every_route_and_nothing_else(app):
    listed = {(row.rule, row.method) for row in ROWS}
    served = app_routes(app)
    missing = sorted(served - listed)
    assert not missing, f"routes the app serves that tests/permissions.toml lacks: {missing}"
    gone = sorted(listed - served)
    assert not gone, f"rows in tests/permissions.toml for routes the app no longer has: {gone}"
    main_rows = [(row.rule, row.method) for row in ROWS if not row.case]
    assert len(main_rows) == len(set(main_rows)) == len(listed), "one row per route has no case"


def cases():
    for row in ROWS:
        marks = [pytest.mark.xfail(reason=row.xfail, strict=False)] if row.xfail else []
        for role in ROLES:
            yield pytest.param(row, role, marks=marks, id=f"{row.label} as {role}")


def exchange(world, row, role, twins: int):
    """Send the request (and its htmx twin, if asked); the answers and the changed tables.
    Whatever happens, the world is put back when anything changed."""
    before = world.snapshot()
    answers, changed = [], []
    try:
        answers.append(world.send(row, role))
        if twins:
            answers.append(world.send(row, role, headers={"HX-Request": "true"}))
    finally:
        changed = world.changes(before)
        complete = len(answers) == 1 + twins
        if changed or not complete:
            world.restore(changed if complete else None)
    return answers, changed


def problem(row, expected: str, response) -> str | None:
    """What is wrong with the answer's status for this outcome, or None."""
    status = response.status_code
    if expected == "ok":
        if status >= 400 or (is_sign_in_redirect(response) and not row.to_signin):
            return f"expected success, got {status} {response.headers.get('Location', '')}"
    elif expected == "login":
        wanted = 401 if row.is_api else 303
        if status != wanted or not (row.is_api or is_sign_in_redirect(response)):
            return f"expected {wanted} to sign-in, got {status}"
    elif expected == "refused":
        if status != 303 or is_sign_in_redirect(response):
            return f"expected a 303 back with the reason, got {status}"
    elif status != int(expected):
        return f"expected {expected}, got {status}"
    return None


@pytest.mark.parametrize(("row", "role"), list(cases()))
def test_each_person_may_do_exactly_what_the_matrix_says(world, row, role):
    expected = row.expect[role]
    allowed = expected == "ok"
    # An allowed GET is read again as htmx asks for it: a fragment is rendered by other
    # code than the page (a refusal is the same either way).
    answers, changed = exchange(world, row, role, twins=int(allowed and not row.writes))
    if allowed:
        changed = [table for table in changed if table not in row.records]
    FIGURES["cases"] += 1
    problems = [p for p in (problem(row, expected, answers[0]),) if p]
    if len(answers) > 1 and (htmx := problem(row, expected, answers[1])):
        problems.append(f"as htmx: {htmx}")
    if not allowed and answers[0].status_code < 400 and (problems or changed):
        FIGURES["unexpected successes"] += 1  # let through, or a redirect that did it anyway
    effect = row.expected_effect if allowed else "none"
    if effect == "none" and changed:
        problems.append(f"changed {changed}")
        FIGURES["known (xfail)" if row.xfail else "unexpected changes"] += 1
    if effect == "change" and not changed:
        problems.append("an allowed write changed nothing")
    assert not problems, f"{row.label} as {role}: {'; '.join(problems)}"


def test_figures(capsys):
    """Prints the run's figures (routes, cases and what went wrong) for SECURITY.md."""
    routes = len({(row.rule, row.method) for row in ROWS})
    with capsys.disabled():
        print(f"\npermission matrix: {routes} routes, {len(ROWS)} rows, " + ", ".join(
            f"{count} {name}" for name, count in FIGURES.items()))  # fmt: skip
    assert FIGURES["unexpected successes"] == FIGURES["unexpected changes"] == 0
