"""Demo content for `flask --app portal seed-demo` (SPEC section 11), imported only by the
command (portal/cli.py), never on a request's path.

Fills an empty database with three boards, 53 accounts and a year of believable product
feedback: ideas with a long tail of votes and comments, every status with its history and
public responses, a few merged duplicates and some internal staff notes. Everything is built
from hand-written pools (boards.py: people and boards; topics.py: what ideas are about;
replies.py: comments and responses) with a seeded random generator (seeding.py), so a seed
gives the same site every time (apart from the clock and the password).
"""

from portal.demo.seeding import DemoError, seed_demo

__all__ = ["DemoError", "seed_demo"]
