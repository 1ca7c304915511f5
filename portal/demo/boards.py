"""Who is on the demo site and where they post: three staff, fifty customers, three boards."""

from dataclasses import dataclass

from portal.models import Role

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
