"""How the HTML reader tries things: each field is read by a chain of named steps tried in
order (as htmldate and trafilatura do), the first answer wins, and a step that finds
nothing says why, so that `digest parse --explain` can tell what was tried."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Explain:
    """Why the extractor read a page the way it did, for `digest parse --explain`."""

    lines: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        """Add one line of explanation."""
        self.lines.append(text)


@dataclass(frozen=True)
class GaveUp:
    """A step's answer when it found nothing: why, in a few words."""

    why: str


class Trail(list[str]):
    """What was tried for one field: the steps that gave up (and why), in order, and the
    step that decided it."""

    decided: str | None = None


def step_name(step: Callable[..., Any]) -> str:
    """A step as `--explain` names it: its function's name in words."""
    return step.__name__.strip("_").replace("_", " ")


def first_of(
    steps: Sequence[Callable[..., T | GaveUp]], args: tuple[Any, ...], notes: list[str]
) -> T | None:
    """The answer of the first step that does not give up (None when all do); each step
    that gives up adds `name (why)` to `notes`, and a Trail also keeps the deciding step."""
    for step in steps:
        answer = step(*args)
        if isinstance(answer, GaveUp):
            notes.append(f"{step_name(step)} ({answer.why})")
            continue
        if isinstance(notes, Trail):
            notes.decided = step_name(step)
        return answer
    return None
