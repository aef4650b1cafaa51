"""The clock: APScheduler 3 runs the jobs on time, and a lease in the store makes sure only
one clock process runs them.

Jobs: poll + publish every `schedule.poll_minutes` (with jitter); the weekly digest on a
cron in the newsroom's time zone, the daily one at `email.daily_time` on weekdays; at the
start of every minute a sweep that rewrites the feeds (and pings the WebSub hub) when an
embargo lifted, so an item is public at its lift minute, releases held mailings whose time
came, and sends what is due; the bounce mailbox, when there is one, every
`bounces.poll_minutes`; at 03:40 every night, the search index folded into its fastest form.
Jobs coalesce, never overlap, and have a misfire grace time. Because a clock that was down
knows nothing of the runs it missed, the weekly job is also checked when the clock starts
and at every sweep: if the latest scheduled weekly time is within the grace time and its
digest was not created, it is created and sent now. Mailings are idempotent, so this can
never send a digest twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from digest import actions
from digest.config import WEEKDAYS, Settings
from digest.mailings import daily_ident, daily_period_end, find_mailing, weekly_ident
from digest.sender import Clock as Now
from digest.sender import utc_now, worker_name
from digest.store import Engine, acquire_lease, items_stamp, release_lease

log = logging.getLogger(__name__)
LEASE = "clock"
TIDY_HOUR, TIDY_MINUTE = 3, 40  # the search index is folded nightly, away from the digests
DAILY_WEEKDAYS = 5


def latest_weekly_time(settings: Settings, now: datetime) -> datetime:
    """The most recent scheduled weekly time at or before `now`."""
    schedule = settings.schedule
    local = now.astimezone(settings.timezone)
    days_back = (local.weekday() - WEEKDAYS.index(schedule.weekly_day)) % 7
    day = local.date() - timedelta(days=days_back)
    at = datetime(
        day.year,
        day.month,
        day.day,
        schedule.weekly_hour,
        schedule.weekly_minute,
        tzinfo=settings.timezone,
    )
    return at if at <= local else at - timedelta(days=7)


def weekly_due(settings: Settings, engine: Engine, now: datetime) -> date | None:
    """The as-of day of a weekly digest that should go out now: its scheduled time has
    passed, within the misfire grace time, and it was not created yet."""
    scheduled = latest_weekly_time(settings, now)
    if now - scheduled > timedelta(minutes=settings.schedule.misfire_grace_minutes):
        return None
    as_of = scheduled.date()
    return None if find_mailing(engine, weekly_ident(as_of)) else as_of


def latest_daily_time(settings: Settings, now: datetime) -> datetime:
    """The most recent weekday daily-digest time at or before `now`."""
    local = now.astimezone(settings.timezone)
    day = local.date()
    while True:
        at = daily_period_end(settings, day)
        if day.weekday() < DAILY_WEEKDAYS and at <= local:
            return at
        day -= timedelta(days=1)


def daily_due(settings: Settings, engine: Engine, now: datetime) -> date | None:
    """The day whose daily digest should go out now: its time (a weekday) has passed, within
    the misfire grace time, and it was not created yet."""
    scheduled = latest_daily_time(settings, now)
    if now - scheduled > timedelta(minutes=settings.schedule.misfire_grace_minutes):
        return None
    as_of = scheduled.date()
    return None if find_mailing(engine, daily_ident(as_of)) else as_of


class ClockProcess:
    """One clock: the scheduler, its lease, and a clean stop."""

    def __init__(
        self, settings: Settings, engine: Engine, now: Now = utc_now, holder: str | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.now = now
        self.holder = holder or worker_name()
        self.stopping = threading.Event()
        self.stamp: tuple[object, ...] | None = None
        self.scheduler = BackgroundScheduler(
            timezone=settings.timezone,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": settings.schedule.misfire_grace_minutes * 60,
            },
        )

    def holds_lease(self) -> bool:
        """Take or renew the clock lease; False while another clock holds it."""
        return acquire_lease(
            self.engine, LEASE, self.holder, self.now(), self.settings.schedule.lease_seconds
        )

    def _guarded(self, name: str, work: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set():
                return
            if not self.holds_lease():
                log.info("%s: another clock holds the lease; not running", name)
                return
            try:
                work()
            except Exception:
                log.exception("job %s failed", name)

        return run

    def poll_and_publish(self) -> None:
        report = actions.publish(self.engine, self.settings, now=self.now(), due_only=True)
        written = sum(1 for f in report.files if f.written)
        total = report.ingest.total
        log.info("publish: %d new, %d updated; %d files written", total.new, total.updated, written)

    def weekly(self) -> None:
        as_of = weekly_due(self.settings, self.engine, self.now())
        if as_of is None:
            return
        mailing = actions.weekly_digest(self.engine, self.settings, as_of, self.now())
        log.info("weekly digest %s: %s", as_of, mailing.status)
        self.sweep()

    def daily(self) -> None:
        as_of = daily_due(self.settings, self.engine, self.now())
        if as_of is None:
            return
        mailing = actions.daily_digest(self.engine, self.settings, as_of, self.now())
        log.info("daily digest %s: %s", as_of, mailing.status)

    def sweep(self) -> None:
        summary = actions.send(
            self.engine, self.settings, clock=self.now, should_stop=self.stopping.is_set
        )
        if summary.sent or summary.failed or summary.retrying:
            log.info(
                "sent %d, failed %d, retrying %d", summary.sent, summary.failed, summary.retrying
            )

    def bounces(self) -> None:
        """Read the bounce mailbox (BOUNCE_MAILBOX_URL): apply bounces and complaints,
        keep what cannot be read for staff, warn about mailings past the threshold."""
        run = actions.read_bounce_mailbox(self.engine, self.settings, "clock", self.now())
        if run.outcomes:
            log.info(
                "bounce mailbox: %d read, %d need a look", len(run.outcomes), run.not_understood
            )
        for rate in run.warnings:
            log.warning(
                "mailing %d: %d hard bounces of %d sent (%.1f%%)",
                rate.mailing_id, rate.hard, rate.sent, rate.hard_rate,
            )  # fmt: skip

    def republish_if_changed(self) -> None:
        """Rewrite the feeds when the store's stamp moved since the last look: an embargo
        that lifted (or was set), an edit or a correction from the console or the CLI."""
        stamp = items_stamp(self.engine, self.now())
        if stamp != self.stamp:
            actions.publish_feeds(self.engine, self.settings)
            self.stamp = stamp

    def tidy(self) -> None:
        steps = actions.tidy_search(self.engine)
        log.info("search index tidied in %d steps", steps)

    def release(self) -> None:
        released = actions.release_held(self.engine, self.now())
        if released:
            log.info("released held mailings %s", ", ".join(map(str, released)))

    def run_due(self) -> None:
        """What a tick does: republish when an embargo lifted, the digests if due, held
        mailings whose time came, then the sweep (also what runs once at start, so a missed
        Monday is caught up)."""
        self.republish_if_changed()
        self.weekly()
        self.daily()
        self.release()
        self.sweep()

    def start(self) -> None:
        """Schedule the jobs and start the scheduler thread."""
        schedule = self.settings.schedule
        self.scheduler.add_job(
            self._guarded("publish", self.poll_and_publish),
            IntervalTrigger(minutes=schedule.poll_minutes, jitter=schedule.jitter_seconds),
            id="publish",
            next_run_time=datetime.now(self.settings.timezone),
        )
        self.scheduler.add_job(
            self._guarded("weekly", self.weekly),
            CronTrigger(
                day_of_week=schedule.weekly_day,
                hour=schedule.weekly_hour,
                minute=schedule.weekly_minute,
                timezone=self.settings.timezone,
            ),
            id="weekly",
        )
        self.scheduler.add_job(
            self._guarded("daily", lambda: (self.daily(), self.sweep())),
            CronTrigger(
                day_of_week="mon-fri",
                hour=self.settings.cadence.daily_hour,
                minute=self.settings.cadence.daily_minute,
                timezone=self.settings.timezone,
            ),
            id="daily",
        )
        self.scheduler.add_job(  # at second 0: an embargo lifts at its minute, not a poll's
            self._guarded("sweep", self.run_due),
            CronTrigger(second=0, timezone=self.settings.timezone),
            id="sweep",
            next_run_time=datetime.now(self.settings.timezone),
        )
        if self.settings.bounces.mailbox_url:
            self.scheduler.add_job(
                self._guarded("bounces", self.bounces),
                IntervalTrigger(minutes=self.settings.bounces.poll_minutes, jitter=30),
                id="bounces",
                next_run_time=datetime.now(self.settings.timezone),
            )
        self.scheduler.add_job(
            self._guarded("tidy", self.tidy),
            CronTrigger(hour=TIDY_HOUR, minute=TIDY_MINUTE, timezone=self.settings.timezone),
            id="tidy",
        )
        self.scheduler.add_job(
            self.holds_lease,
            IntervalTrigger(seconds=max(1, schedule.lease_seconds // 3)),
            id="lease",
        )
        self.scheduler.start()

    def stop(self) -> None:
        """Finish what is in flight (SMTP transactions are recorded), then let go of the
        lease so another clock can take over at once."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        release_lease(self.engine, LEASE, self.holder)
