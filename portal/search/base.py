"""What every search backend shares: the question, the answer, the failure, and the
interface a backend offers. The backends import this, never the package that picks them."""

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from markupsafe import Markup


class SearchUnavailable(RuntimeError):
    """The index is missing, locked or broken; callers fall back or retry later."""


@dataclass
class SearchQuery:
    text: str
    boards: list[str]  # slugs the searcher may see
    board: str = ""  # narrow to one of them
    status: str = ""
    include_duplicates: bool = False
    page: int = 1
    per_page: int = 20


@dataclass
class Hit:
    number: int
    title: Markup
    snippet: Markup


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    fallback: bool = False


class Writer(Protocol):
    def upsert(self, document: dict) -> None: ...

    def delete(self, number: int) -> None: ...


class Backend(Protocol):
    """A search index. Each method raises SearchUnavailable when the index cannot serve.

    needs_tasks: index changes are queued as SearchTask rows and applied through writing()
    (portal/search/indexing.py); a backend that reads the ideas' own tables sets it False
    and has no writing(). One whose index lives in the database may also set
    `transactional = True`: a change is then written in the change's own transaction.
    """

    needs_tasks: bool

    def search(self, q: SearchQuery) -> SearchResult: ...

    def similar(self, title: str, boards: list[str], limit: int) -> list[int]: ...

    def writing(self) -> AbstractContextManager[Writer]: ...

    def rebuild(self, documents: Iterable[dict]) -> int: ...

    def stamps(self) -> dict[int, str]: ...

    def check(self) -> None: ...

    def ping(self) -> None: ...
