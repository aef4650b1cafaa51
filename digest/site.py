"""Public pages (placeholder, filled in next)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from digest.config import Settings


def render_home(engine: Engine, settings: Settings, now: datetime) -> bytes:
    from digest.feeds import render_index

    return render_index(settings)
