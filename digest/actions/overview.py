"""What the staff console's dashboard, settings and audit pages show, and what /healthz
answers: reads of the store and the settings, and the checks run from the console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from digest.actions.common import Who, audit, require
from digest.catalog import feed_specs
from digest.config import WEEKDAYS, Settings
from digest.mailings import AWAITING, PAUSED, SCHEDULED, recent_mailings
from digest.store import all_sources, audit_log, count_items, deliveries, mailings, sources
from digest.subscribers import count_by_status, iter_subscribers

if TYPE_CHECKING:
    from digest.checks import Check

LISTED = 20


def next_weekly(settings: Settings, now: datetime) -> datetime:
    """When the clock sends the next weekly digest, in the newsroom's zone."""
    plan = settings.schedule
    local = now.astimezone(settings.timezone)
    days = (WEEKDAYS.index(plan.weekly_day) - local.weekday()) % 7
    moment = (local + timedelta(days=days)).replace(
        hour=plan.weekly_hour, minute=plan.weekly_minute, second=0, microsecond=0
    )
    return moment if moment > local else moment + timedelta(days=7)


def next_daily(settings: Settings, now: datetime) -> datetime:
    """When the clock sends the next daily digest (weekdays only), in the newsroom's zone."""
    cadence = settings.cadence
    local = now.astimezone(settings.timezone)
    moment = local.replace(
        hour=cadence.daily_hour, minute=cadence.daily_minute, second=0, microsecond=0
    )
    while moment <= local or moment.weekday() >= 5:
        moment += timedelta(days=1)
    return moment


PERSONAL_KINDS = ("confirm", "welcome")


def personal_mails_today(engine: Engine, settings: Settings, now: datetime) -> dict[str, int]:
    """How many one-person emails (confirmation and welcome) were created today in the
    newsroom's zone, by kind: the dashboard counts them apart from the mailings."""
    local = now.astimezone(settings.timezone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    query = (
        select(mailings.c.kind, func.count())
        .where(mailings.c.kind.in_(PERSONAL_KINDS), mailings.c.created >= midnight)
        .group_by(mailings.c.kind)
    )
    with engine.connect() as conn:
        return {kind: int(count) for kind, count in conn.execute(query)}


def upcoming_mailings(engine: Engine, limit: int = LISTED) -> list[Any]:
    """Mailings waiting for their time, an approval or a resume, soonest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(mailings)
                .where(mailings.c.status.in_((SCHEDULED, AWAITING, PAUSED)))
                .order_by(mailings.c.send_after, mailings.c.id)
                .limit(limit)
            )
        )


def delivery_failures(engine: Engine, limit: int = LISTED) -> list[Any]:
    """The newest failed or bounced deliveries, each with its mailing's columns."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(deliveries.c.email, deliveries.c.reply, deliveries.c.status, mailings)
                .join(mailings, mailings.c.id == deliveries.c.mailing_id)
                .where(deliveries.c.status.in_(("failed", "bounced")))
                .order_by(deliveries.c.id.desc())
                .limit(limit)
            )
        )


def feed_changes(settings: Settings) -> list[dict[str, Any]]:
    """Each feed's title and when its Atom file last changed (None before it is written)."""
    feeds = []
    for spec in feed_specs(settings):
        path = settings.output_dir / spec.path("atom")
        changed = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
        feeds.append({"title": spec.title, "changed": changed})
    return feeds


def dashboard(engine: Engine, settings: Settings, now: datetime) -> dict[str, Any]:
    """Everything the console's dashboard shows, by the names its template uses."""
    counts = count_items(engine)
    return {
        "sources": all_sources(engine),
        "items": [(settings.type_by_slug(slug), n) for slug, n in counts.items()],
        "feeds": feed_changes(settings),
        "subscribers": count_by_status(engine),
        "mailings": recent_mailings(engine, 10, exclude=PERSONAL_KINDS),
        "personal_today": personal_mails_today(engine, settings, now),
        "awaiting": [m for m in upcoming_mailings(engine) if m.status == AWAITING],
        "upcoming": upcoming_mailings(engine),
        "next_weekly": next_weekly(settings, now),
        "next_daily": next_daily(settings, now),
        "failures": delivery_failures(engine),
        "bounced": list(islice(iter_subscribers(engine, "bounced"), LISTED)),
        **bounce_alerts(engine, settings),
    }


def bounce_alerts(engine: Engine, settings: Settings) -> dict[str, Any]:
    """What the dashboard flags about returned mail: recent mailings whose hard-bounce rate
    passes `bounces.hard_rate_warning`, and how many returned messages need a look."""
    from digest.bounces import mailing_rates, needs_a_look

    return {
        "bounce_warnings": [r for r in mailing_rates(engine, settings)[:LISTED] if r.warn],
        "bounce_threshold": settings.bounces.hard_rate_warning,
        "bounce_unread": len(needs_a_look(engine, LISTED)),
    }


def settings_summary(settings: Settings) -> list[tuple[str, str]]:
    """The settings a member of staff may want to check, as (label, value) rows."""
    relay = urlsplit(settings.smtp_url).hostname if settings.smtp_url else None
    schedule, cadence, breaking = settings.schedule, settings.cadence, settings.breaking
    return [
        ("Newsroom", settings.newsroom_name),
        ("Time zone", settings.timezone.key),
        ("Public address (BASE_URL)", settings.base_url),
        ("Store", make_url(settings.database_url).get_backend_name()),
        ("Mail relay", relay or f"none: messages go to {settings.sender.outbox}"),
        (
            "Weekly digest",
            f"{schedule.weekly_day.capitalize()} "
            f"{schedule.weekly_hour:02d}:{schedule.weekly_minute:02d}",
        ),
        ("Daily digest (weekdays)", f"{cadence.daily_hour:02d}:{cadence.daily_minute:02d}"),
        ("Undo window after send", f"{breaking.undo_seconds} seconds"),
        ("Second sender must approve alerts", "yes" if breaking.approval else "no"),
        ("Sources", ", ".join(source.name for source in settings.sources) or "none"),
    ]


def store_health(engine: Engine, now: datetime) -> dict[str, Any]:
    """What /healthz answers: whether the store is reachable and how long ago a source was
    last polled; `ok` is False (with the error's kind) when the store cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            last_poll = conn.execute(select(func.max(sources.c.polled_at))).scalar()
    except SQLAlchemyError as exc:
        return {"ok": False, "store": f"unreachable: {type(exc).__name__}"}
    age = (now - last_poll).total_seconds() if last_poll else None
    return {"ok": True, "store": "reachable", "last_poll_age_seconds": age}


def run_checks(settings: Settings, engine: Engine, who: Who) -> list[Check]:
    """Run `digest check`'s checks for a member of staff (admin) and audit how it went."""
    from digest.checks import run_checks as checks_of

    actor = require(who, "admin")
    results = checks_of(settings)
    failed = sum(result.status == "fail" for result in results)
    audit(engine, actor, "checks", f"{len(results)} checks, {failed} failed")
    return results


def audit_entries(engine: Engine, limit: int = 200) -> list[Any]:
    """The newest audit entries first."""
    return audit_log(engine, limit)
