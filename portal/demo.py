"""Demo content for `flask --app portal seed-demo` (SPEC section 11).

Fills an empty database with three boards, 53 accounts and a year of believable product
feedback: ideas with a long tail of votes and comments, every status with its history and
public responses, a few merged duplicates and some internal staff notes. Everything is built
from the hand-written pools below with a seeded random generator, so a seed gives the same
site every time (apart from the clock and the password).

The caller commits; seed_demo only adds and flushes.
"""

from __future__ import annotations

import bisect
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from werkzeug.security import generate_password_hash

from portal import statuses, workflow
from portal.extensions import db
from portal.markup import render_markdown
from portal.models import (
    Board,
    Category,
    Comment,
    Counter,
    Idea,
    Role,
    StatusChange,
    Subscription,
    SubscriptionLevel,
    User,
    Vote,
    utcnow,
)


class DemoError(RuntimeError):
    """The database is not empty, so the demo content would mix with real content."""


NOT_EMPTY = "The database already has ideas; seed-demo fills only an empty database."

# --------------------------------------------------------------------------------------
# Accounts and boards
# --------------------------------------------------------------------------------------

STAFF = (
    ("admin@example.com", "Ada Admin", Role.ADMIN),
    ("owner@example.com", "Olivia Owner", Role.OWNER),
    ("moderator@example.com", "Milo Moderator", Role.MODERATOR),
)
CUSTOMER_COUNT = 50
CUSTOMER_NAMES = (
    "Amara", "Lukas", "Sofia", "Haruto", "Chloé", "Mateo", "Aisha", "Jonas", "Priya", "Wei",
    "Emma", "Kwame", "Ingrid", "Diego", "Yuki", "Fatima", "Noah", "Zofia", "Arjun", "Léa",
    "Oluwaseun", "Mia", "Tomás", "Hana", "Elif", "Sven", "Camila", "Dmitri", "Nadia", "Liam",
    "Mei", "Rafael", "Anouk", "Kofi", "Isabel", "Mikael", "Ayesha", "Finn", "Valentina", "Jin",
    "Saoirse", "Omar", "Greta", "Thiago", "Leila", "Marek", "Ana", "Ravi", "Astrid", "Samuel",
)  # fmt: skip
LAST_INITIALS = "ABCDEFGHIJKLMNOPRSTVWZ"


@dataclass(frozen=True)
class BoardSpec:
    slug: str
    name: str
    description: str
    share: float
    categories: tuple[tuple[str, str], ...]
    is_private: bool = False
    votes_per_user: int = 0
    max_votes_per_idea: int = 1


FEATURES, MOBILE, SANDBOX = "feature-requests", "mobile-app", "staff-sandbox"
BOARDS = (
    BoardSpec(
        FEATURES,
        "Feature requests",
        "Tell us what would make the web app work better for your team, and vote for the "
        "ideas you need most.",
        0.6,
        (
            ("reporting", "Reporting & export"),
            ("integrations", "Integrations"),
            ("security", "Security & admin"),
            ("workflow", "Workflow"),
            ("localization", "Languages & accessibility"),
        ),
    ),
    BoardSpec(
        MOBILE,
        "Mobile app",
        "Ideas for the iOS and Android apps: you have 10 votes here, and an idea can take up "
        "to 3 of them.",
        0.3,
        (
            ("ios", "iOS & iPadOS"),
            ("android", "Android"),
            ("notifications", "Notifications"),
            ("offline", "Offline & sync"),
        ),
        votes_per_user=10,
        max_votes_per_idea=3,
    ),
    BoardSpec(
        SANDBOX,
        "Staff sandbox",
        "A private board where the team tries out wording, experiments and internal tools "
        "before anything goes public.",
        0.1,
        (
            ("experiments", "Experiments"),
            ("internal-tools", "Internal tools"),
            ("copy", "Copy & wording"),
        ),
        is_private=True,
    ),
)

# --------------------------------------------------------------------------------------
# Ideas: topics with several phrasings, so titles rarely repeat exactly
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    board: str
    category: str
    noun: str
    titles: tuple[str, ...]
    tails: tuple[str, ...]
    why: tuple[str, ...]
    bullets: tuple[str, ...] = ()


def _t(board, category, noun, titles, tails, why, bullets=()) -> Topic:
    return Topic(board, category, noun, tuple(titles), ("", *tails), tuple(why), tuple(bullets))


# fmt: off
TOPICS = (
    # Feature requests --------------------------------------------------------------------
    _t(FEATURES, "localization", "dark mode",
       ["Dark mode", "Add a dark theme to the web app", "Follow the operating system's dark mode",
        "Dark mode for dashboards and reports", "Night mode for the web app"],
       [" (please!)", " with a high-contrast option"],
       ["Staring at a bright white screen all evening is hard on the eyes. Almost every other "
        "tool we use already offers a dark theme.",
        "Half of our support team works late shifts and they keep asking for this."],
       ["Follow the operating system setting automatically", "Let each person override it",
        "Keep charts readable in both themes"]),
    _t(FEATURES, "reporting", "CSV export",
       ["Export reports to CSV", "CSV export for every list view", "Download any table as CSV",
        "Scheduled CSV export by email"],
       [" including custom fields", " that keeps the current filters"],
       ["Our finance team needs the raw numbers at every month-end, and right now someone "
        "copies them by hand from the screen.",
        "We feed this data into our BI tool, and a CSV file is the simplest way to get it there."],
       ["Respect the filters I have applied", "Include custom fields as columns",
        "Use ISO dates so spreadsheets sort correctly", "UTF-8 so names with accents survive"]),
    _t(FEATURES, "reporting", "Excel export",
       ["Export to Excel (.xlsx)", "Native Excel export with formatting",
        "Open reports directly in Excel", "Export filtered lists to Excel",
        "Excel export that keeps column widths and formats", "Export pivot-ready data to Excel"],
       [" for managers"],
       ["CSV loses all formatting, and our managers open everything in Excel anyway.",
        "Every week I rebuild the same pivot table from a CSV. An .xlsx export would save that."]),
    _t(FEATURES, "security", "SSO with Okta",
       ["SSO with Okta", "SAML single sign-on (Okta, Entra ID)", "Sign in with Microsoft Entra ID",
        "Enforce single sign-on for our domain"],
       [" on the Business plan", " with just-in-time provisioning"],
       ["Our IT policy requires every SaaS tool to go through Okta. Without SSO we can't roll "
        "this out beyond the pilot team.",
        "Offboarding is painful without central sign-in: people keep access after they leave."],
       ["SAML 2.0 with Okta and Entra ID", "Create accounts on first sign-in",
        "Turn off password sign-in for our domain"]),
    _t(FEATURES, "security", "SCIM provisioning",
       ["SCIM user provisioning", "Sync users and groups from Okta via SCIM",
        "Deactivate users automatically when they leave", "Automatic deprovisioning through SCIM",
        "SCIM 2.0 support for Entra ID"],
       [" for enterprise workspaces"],
       ["We manage 800 people in Okta. Adding and removing them here by hand doesn't scale."]),
    _t(FEATURES, "security", "two-factor authentication",
       ["Two-factor authentication", "Support authenticator apps for 2FA",
        "Require 2FA for every member of a workspace", "Security keys (WebAuthn) for sign-in"],
       [" for admins at least", " on every plan"],
       ["Our security questionnaire asks about 2FA and today we have to answer no.",
        "After a phishing scare last quarter, management wants 2FA on every tool we use."],
       ["TOTP apps like 1Password or Google Authenticator", "Backup codes",
        "An admin switch to make it mandatory"]),
    _t(FEATURES, "security", "an audit log",
       ["Audit log of admin actions", "Show who changed what in an audit log",
        "Exportable audit log for compliance", "Audit trail for permission changes"],
       [" with IP addresses", " kept for a year"],
       ["We're going through SOC 2 and the auditors want to see who changed permissions and when.",
        "Someone deleted a project last week and nobody knows who. An audit log would settle "
        "that in seconds."],
       ["Who, what, when and from which IP", "Filter by person and date range",
        "Export for our auditors"]),
    _t(FEATURES, "security", "granular permissions",
       ["Granular permissions per project", "Custom roles", "Hide billing from non-admins",
        "Read-only role for stakeholders", "Project-level admin role",
        "Restrict who can delete projects"],
       [" for large teams"],
       ["Right now everyone is either an admin or can edit everything. We need something in "
        "between for contractors."]),
    _t(FEATURES, "security", "guest access",
       ["Read-only guest access for clients", "Invite external collaborators to one project",
        "Share a project with a client without a paid seat", "Client portal with read-only access",
        "Free viewer seats for stakeholders"],
       [" (agency use case)"],
       ["We're an agency and want clients to follow progress without seeing our other projects "
        "or paying for a seat."]),
    _t(FEATURES, "security", "EU data residency",
       ["EU data residency", "Host our data in the EU (Frankfurt)",
        "Let us choose the data region", "Store attachments in the EU as well",
        "Data centre in Germany"],
       [" (legal requirement for us)", " for European customers"],
       ["Our legal team will only sign off if customer data stays in the EU."]),
    _t(FEATURES, "security", "an IP allowlist",
       ["IP allowlist for the workspace", "Restrict access to our office network and VPN",
        "Block sign-ins from outside our VPN", "Restrict API access by IP range"],
       [" (compliance requirement)"],
       ["Our compliance rules say internal tools must only be reachable from the company "
        "network."]),
    _t(FEATURES, "integrations", "the Slack integration",
       ["Slack integration", "Post updates to a Slack channel",
        "Create items from a Slack message", "Slack notifications per project"],
       [" with threads", " for private channels"],
       ["Our whole company lives in Slack. If updates don't show up there, people simply don't "
        "see them.",
        "We already get too many emails. Slack is where we'd actually notice changes."],
       ["Pick the channel per project", "Link back to the item",
        "Choose which events are posted"]),
    _t(FEATURES, "integrations", "Microsoft Teams notifications",
       ["Microsoft Teams integration", "Send notifications to Teams channels",
        "Teams app with a personal tab", "Create items from a Teams chat",
        "Microsoft Teams bot for reminders"],
       [" (we don't use Slack)"],
       ["We're a Microsoft shop with no Slack at all. Teams notifications would make adoption "
        "much easier."]),
    _t(FEATURES, "integrations", "webhook retries",
       ["Retry failed webhooks automatically", "Webhook delivery log with retries",
        "Let us replay failed webhook deliveries", "Alert me when webhooks keep failing"],
       [" (we lose events today)"],
       ["When our endpoint has a short outage we silently lose events and have to reconcile by "
        "hand the next morning."],
       ["Retries with backoff over a few hours", "A delivery log with response codes",
        "A button to resend one event"]),
    _t(FEATURES, "integrations", "higher API rate limits",
       ["Higher API rate limits", "Show rate limit headers on every API response",
        "Raise the API rate limit for bulk imports",
        "Per-token API rate limits instead of per-workspace"],
       [" on paid plans"],
       ["Our nightly sync hits the limit after a few minutes and then crawls along for hours.",
        "We can't tell how close we are to the limit until requests start failing."]),
    _t(FEATURES, "integrations", "a Zapier app",
       ["Zapier integration", "Official Zapier app with triggers and actions",
        "Make (Integromat) integration", "Zapier trigger for status changes",
        "Power Automate connector"],
       [" (no-code automations)"],
       ["Lots of our non-technical staff build automations themselves. An official app would "
        "save us maintaining custom scripts."]),
    _t(FEATURES, "integrations", "Jira sync",
       ["Two-way sync with Jira", "Link items to Jira issues",
        "Show the Jira status on linked items", "Create Jira issues from an item",
        "Sync comments with Jira"],
       [" (Cloud and Data Center)"],
       ["Engineering tracks everything in Jira while product lives here, so we update every "
        "status twice."]),
    _t(FEATURES, "integrations", "calendar sync",
       ["Google Calendar sync for due dates", "Sync due dates to Outlook",
        "iCal feed of upcoming deadlines", "Show tasks in Google Calendar",
        "Two-way calendar sync"],
       [" per project"],
       ["Deadlines live here but our days are planned in the calendar, so things slip through."]),
    _t(FEATURES, "integrations", "creating items by email",
       ["Create items by email", "Forward emails into a project inbox",
        "Reply to notifications by email", "Turn support emails into items",
        "Unique email address for every project"],
       [" with attachments"],
       ["Half of our requests arrive by email. Forwarding them straight in would beat "
        "copy-and-paste."]),
    _t(FEATURES, "integrations", "importers from other tools",
       ["Import from Trello", "Import from Asana with comments and attachments",
        "Import items from a CSV file", "Import from Monday.com", "Import from Jira Cloud"],
       [" without losing dates"],
       ["We want to move three teams over, but nobody will retype two years of history."]),
    _t(FEATURES, "integrations", "API improvements",
       ["GraphQL API", "API endpoint for time entries", "OAuth apps for third-party integrations",
        "Bulk endpoints in the REST API", "API keys scoped to one project", "Official Python SDK"],
       [" (for our internal dashboard)"],
       ["We're building an internal dashboard and the REST API needs a dozen calls for one "
        "screen."]),
    _t(FEATURES, "workflow", "keyboard shortcuts",
       ["Keyboard shortcuts", "More keyboard shortcuts for power users",
        "Show all keyboard shortcuts with ?", "Customisable keyboard shortcuts"],
       [" in the list view", " like Gmail's"],
       ["I triage more than a hundred items a day, and reaching for the mouse every time slows "
        "me down."],
       ["j / k to move through lists", "e to edit, a to assign", "? to show every shortcut"]),
    _t(FEATURES, "workflow", "bulk edit",
       ["Bulk edit", "Select several items and change them at once",
        "Bulk assign and bulk change status", "Bulk move items between projects"],
       [" from the list view"],
       ["After every planning meeting I change the status of 30 items one by one. It takes "
        "forever.", "Cleaning up after a re-org means reassigning hundreds of items by hand."],
       ["Checkboxes in the list view", "Change status, assignee and labels together",
        "Undo for the whole batch"]),
    _t(FEATURES, "workflow", "custom fields",
       ["Custom fields", "Custom dropdown fields", "Required custom fields on forms",
        "Custom date and number fields"],
       [" per project", " that show up in reports"],
       ["Every team tracks something slightly different (budget code, customer tier, region) "
        "and the built-in fields don't cover it."],
       ["Text, number, date and dropdown types", "Filter and sort by them",
        "Include them in exports"]),
    _t(FEATURES, "workflow", "recurring tasks",
       ["Recurring tasks", "Repeat a task every week or month",
        "Recurring checklists for month-end close", "Recurring tasks with custom schedules",
        "Repeat a project every quarter"],
       [" like in Todoist"],
       ["We have the same month-end checklist every month and recreate it by hand each time."]),
    _t(FEATURES, "workflow", "templates",
       ["Project templates", "Save a project as a template", "Shared templates for the workspace",
        "Task templates with checklists", "Template gallery for common workflows"],
       [" with default assignees"],
       ["Every client onboarding looks the same. A template would make sure no step is "
        "forgotten."]),
    _t(FEATURES, "workflow", "saved views",
       ["Saved filters", "Save and share custom views", "Pin favourite views to the sidebar",
        "Default view per project", "Share a filtered view by link"],
       [" for the whole team"],
       ["I rebuild the same filter every Monday morning. Let me save it and share it with the "
        "team."]),
    _t(FEATURES, "workflow", "better search",
       ["Search inside attachments", "Search that tolerates typos",
        "Search by custom field values", "Search comments as well as titles",
        "Filter search results by project", "Search across all workspaces"],
       [" (it misses too much today)"],
       ["Search only finds exact words in titles, so half the time I can't find things I know "
        "are there."]),
    _t(FEATURES, "workflow", "attachment improvements",
       ["Larger attachment size limit", "Drag and drop files into comments",
        "Preview PDFs without downloading them", "Attach files from Google Drive",
        "Attach files from OneDrive and SharePoint", "Version history for attachments"],
       [],
       ["Our design files are often above the current limit, so we end up sharing links "
        "elsewhere."]),
    _t(FEATURES, "workflow", "richer comments",
       ["@mention teams, not just people", "Emoji reactions on comments",
        "Show the edit history of comments", "Threaded replies to comments",
        "Pin an important comment to the top", "Markdown tables in comments"],
       [],
       ["Long threads get noisy with \"thanks!\" replies. Reactions would keep them readable."]),
    _t(FEATURES, "workflow", "a trash bin",
       ["Restore deleted items for 30 days", "Trash bin instead of permanent delete",
        "Archive finished projects instead of deleting them", "Undo after deleting a task",
        "Admins can restore deleted projects"],
       [" (we lost work last month)"],
       ["A colleague deleted the wrong project last month and support had to restore it from a "
        "backup."]),
    _t(FEATURES, "workflow", "time tracking",
       ["Built-in time tracking", "Log time against tasks", "Timesheet report per person",
        "Billable vs non-billable hours", "Estimated vs actual time per task"],
       [" for client billing"],
       ["We bill clients by the hour and currently keep a separate timesheet tool just for "
        "that."]),
    _t(FEATURES, "workflow", "email digests",
       ["Daily email digest instead of single emails", "Snooze notifications for a day",
        "Weekly summary email for managers", "Turn off emails about my own changes",
        "Choose which events send emails", "Digest of mentions only"],
       [],
       ["I get forty notification emails a day. One digest in the morning would be plenty."]),
    _t(FEATURES, "reporting", "custom dashboards",
       ["Custom dashboards", "Burndown chart for each project", "Time-in-status report",
        "Weekly progress report by email"],
       [" for leadership", " per team"],
       ["Leadership asks for the same numbers every week and I build them by hand in slides."],
       ["Drag-and-drop widgets", "Share a dashboard with a read-only link",
        "Refresh automatically every hour"]),
    _t(FEATURES, "reporting", "a timeline view",
       ["Gantt chart / timeline view", "Dependencies between tasks on the timeline",
        "Show milestones on a timeline", "Drag to reschedule on the timeline",
        "Critical path on the Gantt chart", "Export the timeline as PDF"],
       [" for client updates"],
       ["Clients want to see when things land, and a list doesn't show that at a glance."]),
    _t(FEATURES, "localization", "a German translation",
       ["German translation", "Full German (Deutsch) localisation",
        "Send email notifications in German", "German date and number formats",
        "Formal German (Sie) in the interface"],
       [" for the whole interface"],
       ["Most of our warehouse staff don't read English well, so they avoid the tool entirely.",
        "We're rolling this out in Austria and Switzerland and need the interface in German."]),
    _t(FEATURES, "localization", "more languages",
       ["French translation", "Spanish (Latin America) translation", "Japanese localisation",
        "Portuguese (Brazil) translation", "Dutch translation", "Italian translation",
        "Polish translation", "Swedish translation", "Korean localisation"],
       [],
       ["Our regional teams work in their own language, and an English-only interface slows "
        "adoption there."]),
    _t(FEATURES, "localization", "locale settings",
       ["Use my locale's date format", "Show times in each person's time zone",
        "Start the week on Monday", "24-hour clock setting", "Localised currency formats",
        "Show ISO week numbers"],
       [],
       ["We have people in Berlin, Austin and Singapore, and nobody is ever sure which time a "
        "deadline means."]),
    _t(FEATURES, "localization", "accessibility improvements",
       ["Better screen reader support", "Keyboard-only navigation in every dialog",
        "Colour-blind friendly status colours", "Reduce motion option", "Larger text setting",
        "Visible focus outlines everywhere"],
       [" (WCAG 2.1 AA)"],
       ["Two of our colleagues rely on a screen reader, and several dialogs can't be used "
        "without a mouse.", "Accessibility is part of our procurement checklist (WCAG 2.1 AA)."]),
    # Mobile app --------------------------------------------------------------------------
    _t(MOBILE, "offline", "offline mode on iOS",
       ["Offline mode on iOS", "Work offline on iPhone and sync later",
        "Read projects offline on iPad", "Offline access to attachments on iPhone"],
       [" for field teams", " (we work in basements)"],
       ["Our field technicians are often in basements with no signal. They need to see and tick "
        "off tasks there.",
        "On flights the app is useless. Even read-only offline access would help."],
       ["Keep the last 30 days of my projects on the device", "Queue edits and sync them later",
        "Show clearly what hasn't synced yet"]),
    _t(MOBILE, "offline", "offline mode on Android",
       ["Offline mode for Android", "Queue changes while offline on Android",
        "Download a project for offline use", "Offline attachments on Android",
        "Android app should work without signal"],
       [" for drivers and field staff"],
       ["Our drivers lose signal on rural routes and the Android app just shows a spinner."]),
    _t(MOBILE, "offline", "clearer sync status",
       ["Show sync conflicts instead of overwriting", "Sync status indicator in the app",
        "Faster sync after reconnecting", "Manual \"Sync now\" button",
        "Show when data was last synced"],
       [" on mobile"],
       ["Twice last month an edit made on the phone overwrote a colleague's changes without "
        "any warning."]),
    _t(MOBILE, "notifications", "push notification settings",
       ["Choose which push notifications I get", "Quiet hours for push notifications",
        "Group push notifications by project", "Push notifications only for mentions",
        "No push for comments I've already read on the web"],
       [" on iOS and Android"],
       ["My phone buzzes for every comment on every project. I'd like mentions and due dates "
        "only.", "Notifications at 2 a.m. from colleagues in other time zones are not great."]),
    _t(MOBILE, "notifications", "mobile reminders",
       ["Due date reminders on the phone", "Remind me about a task later",
        "Location-based reminders", "Snooze a task reminder on the phone",
        "Daily morning summary notification"],
       [" (like Apple Reminders)"],
       ["I'd love a nudge an hour before something is due instead of finding out afterwards."]),
    _t(MOBILE, "ios", "home screen widgets",
       ["Home screen widget for today's tasks", "Lock screen widget on iOS",
        "Android home screen widget", "Widget for quick task entry",
        "Widget showing my overdue tasks"],
       [" (small and medium sizes)"],
       ["Opening the app just to see what's due today is three taps too many."]),
    _t(MOBILE, "ios", "a biometric app lock",
       ["Unlock the app with Face ID", "Biometric app lock on Android",
        "Require a passcode to open the app", "Face ID for the iPad app",
        "Stay signed in with biometrics"],
       [" for shared devices"],
       ["Our phones are shared on the shop floor, so we'd like the app locked on its own."]),
    _t(MOBILE, "ios", "better iPad support",
       ["iPad split view support", "Landscape mode on iPad",
        "Apple Pencil annotations on attachments", "Keyboard shortcuts on iPad with a keyboard",
        "Multiple windows on iPad"],
       [" (site managers use iPads)"],
       ["Our site managers use iPads all day and the stretched iPhone layout wastes half the "
        "screen."]),
    _t(MOBILE, "ios", "a watch app",
       ["Apple Watch app", "Tick off tasks from the Apple Watch", "Wear OS app",
        "Due date reminders on the Apple Watch", "Watch complication for today's tasks"],
       [" for warehouse staff"],
       ["On the warehouse floor my hands are full. A glance at the watch would be ideal."]),
    _t(MOBILE, "android", "camera scanning",
       ["Scan documents with the camera", "Attach photos straight from the camera",
        "Scan QR codes on equipment to open its task", "Annotate photos before attaching",
        "Compress photos before uploading on mobile data"],
       [" for field reports"],
       ["Our technicians photograph every repair, then upload the pictures from a laptop in "
        "the evening."]),
    _t(MOBILE, "ios", "sharing from other apps",
       ["Share to the app from other apps", "Add items from the iOS share sheet",
        "Share links from Android into a project", "Save emails from the Mail app as tasks",
        "Share screenshots straight into a task"],
       [" (saves so much copy-paste)"],
       ["When I find something useful in Safari I want to send it straight into a project."]),
    _t(MOBILE, "android", "dark mode in the app",
       ["Dark mode in the mobile app", "Follow the system theme on Android",
        "True black theme for OLED screens", "Dark mode for the iPad app",
        "Dim theme for night shifts"],
       [" (to match the web app)"],
       ["The white screen is blinding at night, and the web app's dark mode doesn't carry over."]),
    _t(MOBILE, "android", "tablet layouts",
       ["Tablet layout for Android", "Two-pane layout on foldables",
        "Landscape mode on Android tablets", "Chromebook-friendly layout", "Samsung DeX support"],
       [" for our site managers"],
       ["On our Samsung tablets the app is just a very large phone app."]),
    _t(MOBILE, "android", "voice input",
       ["Create tasks by voice", "Siri Shortcuts support", "Google Assistant integration",
        "Dictate comments in the app", "Voice notes as attachments"],
       [" (hands-free)"],
       ["I think of things while driving. Saying \"add a task\" would be safer than typing."]),
    _t(MOBILE, "android", "app performance",
       ["Faster app start on older Android phones", "Reduce battery use in the background",
        "Smaller app download size", "Smoother scrolling in long lists",
        "Faster photo uploads on mobile data"],
       [" (the app feels slow)"],
       ["On our company phones (mid-range, two years old) the app takes about eight seconds to "
        "open.", "Since the last update the app is near the top of the battery usage list."]),
    _t(MOBILE, "notifications", "mentions on mobile",
       ["@mentions in the mobile app", "Rich text in mobile comments",
        "Reply to comments from the notification", "Edit my own comments in the app",
        "Emoji reactions in the mobile app"],
       [" (I'm rarely at my desk)"],
       ["I can read mentions on the phone but have to wait until I'm at a laptop to answer "
        "properly."]),
    _t(MOBILE, "offline", "map views",
       ["Show tasks on a map", "Navigate to a task's address", "Sort tasks by distance from me",
        "Offline maps for site visits", "Plan a route through today's tasks"],
       [" for service teams"],
       ["Our service teams visit several sites a day, and planning the route by hand is slow."]),
    # Staff sandbox -----------------------------------------------------------------------
    _t(SANDBOX, "experiments", "the onboarding checklist",
       ["Test: onboarding checklist for new workspaces", "Try a shorter sign-up form",
        "Experiment: skip the team-size question at sign-up",
        "Experiment: sample project for new sign-ups", "Try a product tour for first-time admins"],
       [],
       ["Activation in the first week is flat. A short checklist might get more teams to "
        "invite colleagues."]),
    _t(SANDBOX, "copy", "the new wording",
       ["Rename \"Projects\" to \"Spaces\"?", "Friendlier empty state on the dashboard",
        "Clearer error when an invite link has expired",
        "Shorter subject lines for notification emails",
        "Rename \"Archive\" to \"Hide\" in the menu"],
       [],
       ["Support gets the same confused questions every week; better wording could answer most "
        "of them."]),
    _t(SANDBOX, "internal-tools", "the support tooling",
       ["Admin tool to merge duplicate accounts", "Support tool: view the app as a customer",
        "Internal dashboard for churn signals", "Bulk refund tool for billing support",
        "Internal search across all workspaces"],
       [],
       ["Support spends about an hour a day on things a small internal tool could do in "
        "seconds."]),
    _t(SANDBOX, "experiments", "the in-app announcements",
       ["Try a \"What's new\" panel in the app", "Experiment: in-app product newsletter",
        "Pricing page: show the annual discount by default", "Test an NPS survey after 30 days",
        "Banner for planned maintenance"],
       [],
       ["Most customers never read the changelog. Let's see whether an in-app panel gets more "
        "eyes on releases."]),
    _t(SANDBOX, "experiments", "the trial length",
       ["Test a 21-day trial instead of 14 days", "Experiment: no credit card for the trial",
        "Trial extension button for sales"],
       [],
       ["Trial-to-paid conversion dipped last quarter, and sales thinks bigger teams need "
        "longer to evaluate."]),
    _t(SANDBOX, "copy", "the pricing copy",
       ["Clearer wording for seat-based pricing", "Explain the Business plan in one sentence",
        "Pricing FAQ: answer the VAT question"],
       [],
       ["Sales calls keep starting with the same three pricing questions."]),
    _t(SANDBOX, "internal-tools", "the release checklist",
       ["Internal release checklist template", "Draft the changelog from merged pull requests",
        "Status page link in the app footer"],
       [],
       ["Releases depend on whoever remembers the steps. A checklist would make them boring, "
        "in the good way."]),
    _t(SANDBOX, "experiments", "the feedback widget",
       ["Try an in-app feedback widget",
        "Experiment: ask for feedback after a feature is used five times",
        "Link this portal from the help menu"],
       [],
       ["Most feedback reaches us through support tickets. A widget might bring it here, where "
        "others can vote on it."]),
)
# fmt: on

OPENERS = (
    "We're about {size} people, mostly in {dept}, and this comes up every week.",
    "Coming from the {dept} side here.",
    "We moved over from another tool last spring, and this is the one thing we really miss.",
    "This is the most common request I hear from our {dept} team.",
    "Quick context: we're a team of {size} across three offices.",
)
LEAD_INS = ("What we'd need:", "Ideally:", "A minimal version would be:", "Must-haves for us:")
CLOSINGS = (
    "Happy to jump on a call to explain our use case.",
    "We'd gladly pay a bit more for this.",
    "Thanks for considering it!",
    "Is this on the roadmap at all?",
    "Happy to beta test.",
    "This would make the product a much easier sell internally.",
)
DEPARTMENTS = (
    "finance", "support", "sales", "engineering", "marketing", "operations", "HR",
    "customer success",
)  # fmt: skip
SIZES = (8, 12, 15, 25, 40, 60, 120, 300)

# --------------------------------------------------------------------------------------
# Comments, answers and status responses
# --------------------------------------------------------------------------------------

CUSTOMER_COMMENTS = (
    "+1, we need this for our {dept} team.",
    "Same here. {Noun} would save us a couple of hours every week.",
    "Any update on this? It's been a while.",
    "Is there a workaround in the meantime?",
    "Workaround for now: we export everything and fix it up in a spreadsheet. Painful, but it "
    "works.",
    "We wrote a small script against the API as a stopgap. Happy to share it if anyone's "
    "interested.",
    "This is the main reason two of our teams still use a second tool.",
    "Our security review flagged this, so for us it matters for the renewal.",
    "Would this cover admins too, or only regular members?",
    "Upvoted. Please make it a per-workspace setting, not just a global one.",
    "Agree, but please keep the current behaviour as the default.",
    "Not sure I agree. I'd rather see performance work before {noun}.",
    "We'd use this daily. Right now people ping each other on Slack instead.",
    "Exactly what I was about to post. Adding my vote.",
    "Would love this too, especially for new hires during onboarding.",
    "Any chance this lands before the end of the quarter?",
    "How would this work with accounts that come from SSO?",
    "For context: we have about {size} users and at least half asked me about {noun} this month.",
    "What we do today:\n\n1. Keep a shared spreadsheet next to the project\n2. Copy things "
    "over every Friday\n\nIt's error-prone, so a built-in option would be great.",
    "Big yes from our side. **{Noun}** would be top of our internal wishlist.",
)
AUTHOR_REPLIES = (
    "Thanks for the workaround, that helps for now.",
    "Good question. For us it's mainly the {dept} team, but others would use it too.",
    "To clarify: even a basic version would already be a big step for us.",
    "Glad to see I'm not the only one!",
)
OFFICIAL_COMMENTS = (
    "Thanks for the detailed write-up! Could you tell us how often this comes up for your "
    "team? It helps us size {noun}.",
    "Quick update from the product team: we've talked to several of you about {noun} and the "
    "use cases are much clearer now. Keep the comments coming.",
    "We hear you. We haven't scheduled {noun} yet, but votes here are the main input to our "
    "quarterly planning.",
    "In the meantime, our help centre has a guide to the closest workaround. Reply here if it "
    "doesn't cover your case.",
)
INTERNAL_NOTES = (
    "A 200-seat customer asked about {noun} on their renewal call. Flagging for planning.",
    "Engineering estimate from the last refinement: roughly two sprints, mostly backend.",
    "Design wants to pair this with the settings redesign. Don't promise a date yet.",
    "Tracked internally as PROD-{ticket}.",
    "Three enterprise prospects mentioned {noun} in the last month (see CRM notes).",
)
AFTER_COMPLETED = (
    "Just tried it and it works great. Thank you!",
    "Nice! Any plans to take this further?",
    "Thanks for shipping this, it already saved us time this week.",
    "Finally! Our {dept} team is very happy.",
)
AFTER_DECLINED = (
    "That's a shame, but thanks for the clear answer.",
    "Disappointed, though I understand the reasoning.",
    "Fair enough. We'll keep using our workaround then.",
)
STAFF_COMMENTS = (
    "Looks good to me. Shall we try it on 10% of new workspaces first?",
    "I'd keep it behind a feature flag until support has seen the help article.",
    "Checked with support: they'd welcome this.",
    "Let's review the numbers after two weeks before going further.",
)
RESPONSES = {
    "under_review": (
        "Thanks everyone for the votes. We're reviewing {noun} with engineering this month and "
        "will post an update here.",
        "We're looking into this. Concrete examples of how you'd use it help a lot, so please "
        "add them below.",
    ),
    "planned": (
        "Thanks everyone, this is planned for Q3. We'll start with the basics and extend it "
        "based on your feedback.",
        "Good news: we've put {noun} on the roadmap for next quarter. We'll post here when a "
        "beta is ready.",
        "Planned! We're aiming for a first version within the next two releases. Follow this "
        "idea to hear when it ships.",
    ),
    "started": (
        "Work on {noun} has started. If you'd like to try an early build, reply here and we'll "
        "add your workspace to the beta.",
        "In progress: the design is done and the first pieces are in development.",
    ),
    "completed": (
        "This is live! You'll find {noun} on all plans from today. Thanks to everyone who voted "
        "and shared their use cases.",
        "Shipped in this week's release 🎉\n\n- Available to every workspace\n- Details are in "
        "the changelog\n\nLet us know what we should improve next.",
        "Done: we're rolling out {noun} to all workspaces over the next few days.",
    ),
    "declined": (
        "Thanks for the suggestion. We've decided not to build this: very few workspaces would "
        "use it, and it would make the settings harder for everyone else. The API covers most "
        "of these cases today.",
        "We're declining this for now. It conflicts with how permissions work in the product, "
        "and doing it safely would need a much larger redesign than it's worth right now.",
        "After a lot of discussion we're not going to do this. We'd rather keep the product "
        "focused, and an integration through webhooks is the better path here.",
        "Declining for now: this is better handled by a dedicated tool, and we don't want to "
        "ship a half-version of it. We'll revisit if the picture changes.",
    ),
}
SANDBOX_RESPONSES = {
    "completed": ("Shipped to everyone after the experiment. Thanks, all!",),
    "declined": ("The experiment didn't move the numbers, so we're dropping it.",),
}
DUPLICATE_RESPONSE = (
    "Merged into #{number}: please vote and comment there, so all the feedback is in one place."
)

# Share of ideas in each status; the rest stay open. Completed ones mostly shipped lately.
STATUS_SHARES = {
    "under_review": 0.10,
    "planned": 0.08,
    "started": 0.06,
    "completed": 0.11,
    "declined": 0.05,
}
STATUS_PATHS = {
    "under_review": (("under_review",),),
    "planned": (("planned",), ("under_review", "planned")),
    "started": (("planned", "started"), ("under_review", "planned", "started")),
    "completed": (
        ("planned", "started", "completed"),
        ("started", "completed"),
        ("under_review", "planned", "started", "completed"),
        ("completed",),
    ),
    "declined": (("declined",), ("under_review", "declined")),
}
COMMENT_COUNT_WEIGHTS = (30, 22, 17, 12, 9, 6, 4)  # 0..6 comments, a long tail
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass
class Plan:
    """One idea while it is being made, with what the later steps need to know about it."""

    index: int
    board: str
    created_at: datetime
    topic: Topic
    author: User | None = None
    status: str = workflow.OPEN
    history: list[tuple[str, datetime]] = field(default_factory=list)
    canonical: Plan | None = None
    hot: bool = False
    idea: Idea | None = None
    vote_total: int = 0
    public_comments: int = 0
    last_activity: datetime | None = None

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def closes_at(self) -> datetime | None:
        """When voting closed, or None while the idea still takes votes."""
        if self.history and not statuses.accepts_votes(self.status):
            return self.history[-1][1]
        return None

    def touch(self, when: datetime) -> None:
        if self.last_activity is None or when > self.last_activity:
            self.last_activity = when


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def seed_demo(ideas: int = 300, password: str | None = None, seed: int = 7) -> dict:
    """Fill an empty database with demo content; raises DemoError if it has ideas.

    Adds and flushes but does not commit. Every account gets the same password: the one
    given, or a random one that is returned.
    """
    if ideas < 0:
        raise DemoError("The number of demo ideas must be 0 or more.")
    _check_empty()
    password = password or secrets.token_urlsafe(9)
    seeder = _Seeder(random.Random(seed), utcnow(), generate_password_hash(password))
    seeder.run(ideas)
    return {
        "password": password,
        "accounts": [user.email for user in seeder.staff.values()]
        + [user.email for user in seeder.customers],
        "boards": len(seeder.boards),
        "ideas": len(seeder.plans),
        "votes": len(seeder.votes),
        "comments": len(seeder.comments),
    }


def _demo_emails() -> list[str]:
    return [email for email, _, _ in STAFF] + [
        f"customer{n}@example.com" for n in range(1, CUSTOMER_COUNT + 1)
    ]


def _check_empty() -> None:
    if db.session.scalar(db.select(Idea.id).limit(1)) is not None:
        raise DemoError(NOT_EMPTY)
    taken = db.session.scalar(db.select(User.email).where(User.email.in_(_demo_emails())).limit(1))
    if taken is not None:
        raise DemoError(
            f"The account {taken} already exists; seed-demo fills only an empty database."
        )
    slugs = [spec.slug for spec in BOARDS]
    slug = db.session.scalar(db.select(Board.slug).where(Board.slug.in_(slugs)).limit(1))
    if slug is not None:
        raise DemoError(
            f"A board called {slug!r} already exists; seed-demo fills only an empty database."
        )


class _Seeder:
    def __init__(self, rng: random.Random, now: datetime, password_hash: str):
        self.rng = rng
        self.now = now
        self.password_hash = password_hash
        self.staff: dict[Role, User] = {}
        self.customers: list[User] = []  # ordered by created_at
        self.customer_times: list[datetime] = []
        self.boards: dict[str, Board] = {}
        self.categories: dict[tuple[str, str], Category] = {}
        self.plans: list[Plan] = []
        self.votes: list[Vote] = []
        self.comments: list[Comment] = []
        self.changes: list[StatusChange] = []
        self.subscriptions: dict[tuple[int, int], list] = {}
        self.budget_spent: dict[int, int] = defaultdict(int)
        self.subscription_rows: list[Subscription] = []
        self.titles: set[str] = set()

    # Small helpers ------------------------------------------------------------------------

    def between(self, start: datetime, end: datetime) -> datetime:
        return start + (end - start) * self.rng.random()

    def days_ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def fill(self, template: str, topic: Topic) -> str:
        return template.format(
            noun=topic.noun,
            Noun=_cap(topic.noun),
            dept=self.rng.choice(DEPARTMENTS),
            size=self.rng.choice(SIZES),
            ticket=self.rng.randint(1200, 4800),
        )

    def customers_before(self, when: datetime) -> list[User]:
        return self.customers[: bisect.bisect_left(self.customer_times, when)]

    # The steps ----------------------------------------------------------------------------

    def run(self, count: int) -> None:
        self.make_accounts()
        self.make_boards()
        self.plan_ideas(count)
        self.assign_statuses()
        for plan in self.plans:
            self.make_idea(plan)
        db.session.add_all([*self.staff.values(), *self.customers, *self.boards.values()])
        db.session.add_all([*self.categories.values(), *(p.idea for p in self.plans)])
        db.session.flush()
        for plan in self.plans:
            if plan.canonical is not None:
                # As a merge does: the duplicate's author now follows the canonical idea.
                plan.idea.merged_into_id = plan.canonical.idea.id
                merged_at = plan.history[-1][1]
                self.subscribe(plan.author, plan.canonical, SubscriptionLevel.STATUS, merged_at)
            self.record_history(plan)
            self.subscribe(plan.author, plan, SubscriptionLevel.ALL, plan.created_at)
        self.cast_votes()
        for plan in self.plans:
            self.write_comments(plan)
        self.finish()
        db.session.flush()

    def make_accounts(self) -> None:
        joined = self.days_ago(364)
        for email, name, role in STAFF:
            self.staff[role] = self.account(email, name, role, joined)
        names = self.rng.sample(CUSTOMER_NAMES, len(CUSTOMER_NAMES))
        # A handful of early adopters, then sign-ups over the year; none newer than 35 days.
        ages = [self.rng.uniform(350, 362) for _ in range(6)]
        ages += [self.rng.uniform(35, 348) for _ in range(CUSTOMER_COUNT - 6)]
        ages.sort(reverse=True)
        for n in range(1, CUSTOMER_COUNT + 1):
            name = f"{names[(n - 1) % len(names)]} {self.rng.choice(LAST_INITIALS)}."
            user = self.account(
                f"customer{n}@example.com", name, Role.CUSTOMER, self.days_ago(ages[n - 1])
            )
            self.customers.append(user)
        self.customer_times = [user.created_at for user in self.customers]

    def account(self, email: str, name: str, role: Role, created_at: datetime) -> User:
        user = User(
            email=email,
            name=name,
            password_hash=self.password_hash,
            email_verified_at=created_at + timedelta(minutes=self.rng.randint(2, 90)),
            created_at=created_at,
        )
        user.role = role
        return user

    def make_boards(self) -> None:
        created = self.days_ago(365)
        for position, spec in enumerate(BOARDS):
            board = Board(
                slug=spec.slug,
                name=spec.name,
                description=spec.description,
                is_private=spec.is_private,
                votes_per_user=spec.votes_per_user,
                max_votes_per_idea=spec.max_votes_per_idea,
                hold_new_posts=False,
                position=position,
                created_at=created,
            )
            self.boards[spec.slug] = board
            for slug, name in spec.categories:
                self.categories[spec.slug, slug] = Category(board=board, slug=slug, name=name)

    def board_sequence(self, count: int) -> list[str]:
        sequence = []
        for spec in BOARDS[1:]:
            sequence += [spec.slug] * round(count * spec.share)
        sequence = [BOARDS[0].slug] * max(count - len(sequence), 0) + sequence
        self.rng.shuffle(sequence)
        return sequence[:count]

    def plan_ideas(self, count: int) -> None:
        # Denser lately, as a live portal is; the oldest idea is about 345 days old.
        ages = sorted(
            (2 / 24 + 343 * self.rng.random() ** 1.35 for _ in range(count)), reverse=True
        )
        topics = defaultdict(list)
        for topic in TOPICS:
            topics[topic.board].append(topic)
        for index, board in enumerate(self.board_sequence(count)):
            created = self.days_ago(ages[index])
            plan = Plan(index, board, created, self.rng.choice(topics[board]))
            plan.author = self.pick_author(board, created)
            self.plans.append(plan)

    def pick_author(self, board: str, created: datetime) -> User:
        staff = list(self.staff.values())
        if board == SANDBOX or self.rng.random() < 0.04:
            return self.rng.choice(staff)
        return self.rng.choice(self.customers_before(created - HOUR) or self.customers[:1])

    # Statuses -----------------------------------------------------------------------------

    def assign_statuses(self) -> None:
        seasoned = [p for p in self.plans if self.now - p.created_at > 10 * DAY]
        self.rng.shuffle(seasoned)
        self.assign_duplicates(seasoned)
        pool = [p for p in seasoned if p.canonical is None]
        at_least = 1 if len(self.plans) >= 20 else 0
        for status, share in STATUS_SHARES.items():
            quota = max(at_least, round(share * len(self.plans)))
            for plan in pool[:quota]:
                plan.status = status
                plan.history = self.history_for(plan, self.rng.choice(STATUS_PATHS[status]))
            pool = pool[quota:]
        public = [p for p in self.plans if p.board != SANDBOX and p.status != workflow.DUPLICATE]
        for plan in self.rng.sample(public, min(len(public), max(1, len(self.plans) // 40))):
            plan.hot = True

    def assign_duplicates(self, seasoned: list[Plan]) -> None:
        wanted = 3 if len(self.plans) >= 100 else 2 if len(self.plans) >= 20 else 0
        canonicals: set[int] = set()
        for plan in seasoned:
            if wanted == 0:
                return
            earlier = [
                p
                for p in self.plans[: plan.index]
                if p.board == plan.board and p.canonical is None and p.index not in canonicals
            ]
            if plan.board == SANDBOX or plan.index in canonicals or not earlier:
                continue
            canonical = self.rng.choice(earlier)
            canonicals.add(canonical.index)
            plan.canonical, plan.topic, plan.status = canonical, canonical.topic, workflow.DUPLICATE
            merged = self.between(plan.created_at + 2 * HOUR, plan.created_at + 6 * DAY)
            plan.history = [(workflow.DUPLICATE, min(merged, self.now - HOUR))]
            wanted -= 1

    def history_for(self, plan: Plan, path: tuple[str, ...]) -> list[tuple[str, datetime]]:
        start, end = plan.created_at + 2 * DAY, self.now - 3 * HOUR
        recent = self.days_ago(88)
        if path[-1] != "completed":
            final = self.between(self.between(start, end), end)
        elif start >= recent or self.rng.random() < 0.55:
            final = self.between(max(start, recent), end)  # the roadmap's recently shipped
        else:
            final = self.between(start, recent)
        steps = sorted(self.between(plan.created_at + DAY, final) for _ in path[:-1])
        return list(zip(path, [*steps, final], strict=True))

    def record_history(self, plan: Plan) -> None:
        owner = self.staff[Role.OWNER]
        previous = workflow.OPEN
        for position, (status, when) in enumerate(plan.history):
            final = position == len(plan.history) - 1
            response = self.response(plan, status, final)
            self.changes.append(
                StatusChange(
                    idea_id=plan.idea.id,
                    author_id=owner.id,
                    from_status=previous,
                    to_status=status,
                    response=response,
                    response_html=render_markdown(response) if response else "",
                    created_at=when,
                )
            )
            previous = status
            plan.touch(when)

    def response(self, plan: Plan, status: str, final: bool) -> str:
        if status == workflow.DUPLICATE:
            return DUPLICATE_RESPONSE.format(number=plan.canonical.number)
        if self.rng.random() > (0.85 if final else 0.3):
            return ""
        pool = RESPONSES[status]
        if plan.board == SANDBOX:
            pool = SANDBOX_RESPONSES.get(status, ("Moving this along; details in the comments.",))
        return self.fill(self.rng.choice(pool), plan.topic)

    # Ideas --------------------------------------------------------------------------------

    def make_idea(self, plan: Plan) -> None:
        title, body = self.title(plan.topic), self.body(plan.topic)
        category = self.categories.get((plan.board, plan.topic.category))
        assignee = None
        if plan.status in ("planned", "started", "completed") and self.rng.random() < 0.6:
            assignee = self.staff[Role.OWNER]
        plan.idea = Idea(
            number=plan.number,
            board=self.boards[plan.board],
            category=category if self.rng.random() < 0.85 else None,
            author=plan.author,
            assignee=assignee,
            title=title,
            body=body,
            body_html=render_markdown(body),
            status=plan.status,
            vote_count=0,
            comment_count=0,
            created_at=plan.created_at,
            updated_at=plan.created_at,
            status_changed_at=plan.history[-1][1] if plan.history else None,
        )

    def title(self, topic: Topic) -> str:
        title = ""
        for _ in range(8):
            title = self.rng.choice(topic.titles) + self.rng.choice(topic.tails)
            if title not in self.titles:
                break
        self.titles.add(title)
        return title

    def body(self, topic: Topic) -> str:
        paragraphs = [self.rng.choice(topic.why)]
        if self.rng.random() < 0.45:
            paragraphs.insert(0, self.fill(self.rng.choice(OPENERS), topic))
        if topic.bullets and self.rng.random() < 0.4:
            chosen = self.rng.sample(topic.bullets, min(len(topic.bullets), self.rng.randint(2, 3)))
            paragraphs.append(
                self.rng.choice(LEAD_INS) + "\n\n" + "\n".join(f"- {b}" for b in chosen)
            )
        if self.rng.random() < 0.5:
            paragraphs.append(self.rng.choice(CLOSINGS))
        return "\n\n".join(paragraphs)

    # Votes --------------------------------------------------------------------------------

    def cast_votes(self) -> None:
        targets = {plan.index: self.voter_target(plan) for plan in self.plans}
        for plan in sorted(self.plans, key=lambda p: -targets[p.index]):
            if plan.status != workflow.DUPLICATE:
                self.vote_on(plan, targets[plan.index])

    def voter_target(self, plan: Plan) -> int:
        if plan.hot:
            return self.rng.randint(30, 50)
        return min(int(self.rng.paretovariate(1.4) * 2) - 2, 24)

    def vote_on(self, plan: Plan, target: int) -> None:
        closes = plan.closes_at or self.now - HOUR / 6
        board = self.boards[plan.board]
        if plan.board == SANDBOX:
            pool = list(self.staff.values())
        else:
            pool = self.customers_before(closes - HOUR)
        budgeted = board.votes_per_user > 0 and statuses.accepts_votes(plan.status)
        if budgeted:
            pool = [u for u in pool if self.budget_spent[u.id] < board.votes_per_user]
        for user in self.rng.sample(pool, min(target, len(pool))):
            weight = 1
            if board.max_votes_per_idea > 1:
                weight = self.rng.choices((1, 2, 3), (70, 20, 10))[0]
            if budgeted:
                weight = min(weight, board.votes_per_user - self.budget_spent[user.id])
                self.budget_spent[user.id] += weight
            when = self.between(max(plan.created_at, user.created_at) + HOUR, closes)
            self.votes.append(
                Vote(user_id=user.id, idea_id=plan.idea.id, weight=weight, created_at=when)
            )
            plan.vote_total += weight
            self.subscribe(user, plan, SubscriptionLevel.STATUS, when)

    # Comments -----------------------------------------------------------------------------

    def comment_count(self, plan: Plan) -> int:
        if plan.status == workflow.DUPLICATE:
            return 0
        count = self.rng.choices(range(len(COMMENT_COUNT_WEIGHTS)), COMMENT_COUNT_WEIGHTS)[0]
        return max(count, self.rng.randint(3, 6)) if plan.hot else count

    def write_comments(self, plan: Plan) -> None:
        count = self.comment_count(plan)
        end = self.now - HOUR / 6
        if plan.board == SANDBOX:
            end = plan.closes_at or end  # staff experiments go quiet once decided
        times = sorted(self.between(plan.created_at + HOUR / 2, end) for _ in range(count))
        for when in times:
            self.comments.append(self.comment(plan, when))
        if plan.board != SANDBOX and self.wants_internal_note(plan):
            when = self.between(plan.created_at + HOUR, self.now - HOUR / 6)
            body = self.fill(self.rng.choice(INTERNAL_NOTES), plan.topic)
            self.comments.append(self.new_comment(plan, self.staff[Role.OWNER], body, when))
            self.comments[-1].is_internal = True

    def wants_internal_note(self, plan: Plan) -> bool:
        chance = 0.3 if plan.status in ("under_review", "planned", "started") else 0.03
        return self.rng.random() < chance

    def comment(self, plan: Plan, when: datetime) -> Comment:
        topic = plan.topic
        if plan.board == SANDBOX:
            author = self.rng.choice(list(self.staff.values()))
            return self.public_comment(plan, author, self.rng.choice(STAFF_COMMENTS), when)
        answered = plan.history[0][1] if plan.history else self.now
        if when < answered and self.rng.random() < 0.12:
            # The team answers in comments until it answers with a status change.
            body = self.fill(self.rng.choice(OFFICIAL_COMMENTS), topic)
            comment = self.public_comment(plan, self.staff[Role.OWNER], body, when)
            comment.is_official = True
            return comment
        author = self.rng.choice(self.customers_before(when - HOUR) or self.customers[:1])
        pool = self.customer_pool(plan, author, when)
        return self.public_comment(plan, author, self.fill(self.rng.choice(pool), topic), when)

    def customer_pool(self, plan: Plan, author: User, when: datetime) -> tuple[str, ...]:
        closed = plan.closes_at
        if closed is not None and when > closed:
            return AFTER_COMPLETED if plan.status == "completed" else AFTER_DECLINED
        return AUTHOR_REPLIES if author is plan.author else CUSTOMER_COMMENTS

    def public_comment(self, plan: Plan, author: User, body: str, when: datetime) -> Comment:
        plan.public_comments += 1
        plan.touch(when)
        self.subscribe(author, plan, SubscriptionLevel.ALL, when)
        return self.new_comment(plan, author, body, when)

    def new_comment(self, plan: Plan, author: User, body: str, when: datetime) -> Comment:
        return Comment(
            idea_id=plan.idea.id,
            author_id=author.id,
            body=body,
            body_html=render_markdown(body),
            created_at=when,
        )

    # Subscriptions and totals ---------------------------------------------------------------

    def subscribe(self, user: User, plan: Plan, level: str, when: datetime) -> None:
        key = (user.id, plan.index)
        current = self.subscriptions.get(key)
        if current is None:
            self.subscriptions[key] = [level, when]
            return
        if level == SubscriptionLevel.ALL:
            current[0] = SubscriptionLevel.ALL
        current[1] = min(current[1], when)

    def finish(self) -> None:
        for plan in self.plans:
            idea = plan.idea
            idea.vote_count = plan.vote_total
            idea.comment_count = plan.public_comments
            idea.updated_at = max(plan.created_at, plan.last_activity or plan.created_at)
            idea.refresh_trending()
        for (user_id, index), (level, when) in self.subscriptions.items():
            idea_id = self.plans[index].idea.id
            self.subscription_rows.append(
                Subscription(user_id=user_id, idea_id=idea_id, level=level, created_at=when)
            )
        counter = db.session.get(Counter, "idea_number")
        if counter is None:
            counter = Counter(name="idea_number")
            db.session.add(counter)
        counter.value = len(self.plans)
        db.session.add_all([*self.changes, *self.votes, *self.comments, *self.subscription_rows])
