"""Reporting periods: `2026-11` (month), `2026-Q4` (quarter), `2026` (year).

Bounds are Shanghai midnights stored as UTC, because a month's bulletin means the month as people in
Shanghai live it (an activity at 00:30 on 1 December local time belongs to December, though it is
still November in UTC). A period's *cap* is min(end, now): the current period is live, to date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from app.errors import DomainError
from app.timeutil import SHANGHAI, to_local

_PATTERN = re.compile(r"^(\d{4})(?:-(?:(\d{2})|Q([1-4])))?$")

MONTH, QUARTER, YEAR = "month", "quarter", "year"
_KINDS = (MONTH, QUARTER, YEAR)


def _local_midnight(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=SHANGHAI).astimezone(timezone.utc)


@dataclass(frozen=True, order=True)
class Period:
    """A calendar period in Shanghai; `index` is the month, quarter or 1 for a year."""

    year: int
    kind: str
    index: int

    @classmethod
    def parse(cls, text: str | None) -> Period:
        """Parse `2026-11`, `2026-Q4` or `2026`; anything else is `invalid_period` (422)."""
        match = _PATTERN.match((text or "").strip())
        year = int(match.group(1)) if match else 0
        if not match or not 2000 <= year <= 2100:
            raise DomainError("invalid_period", "统计期格式应为 2026-11（月）、2026-Q4（季度）或 2026（年）", 422)
        month, quarter = match.group(2), match.group(3)
        if month is not None:
            if not 1 <= int(month) <= 12:
                raise DomainError("invalid_period", "月份应在 01 到 12 之间", 422)
            return cls(year, MONTH, int(month))
        if quarter is not None:
            return cls(year, QUARTER, int(quarter))
        return cls(year, YEAR, 1)

    @classmethod
    def current(cls, kind: str, now: datetime) -> Period:
        """The period of this kind that contains `now` (in Shanghai)."""
        if kind not in _KINDS:
            raise ValueError(kind)
        local = to_local(now)
        index = {MONTH: local.month, QUARTER: (local.month - 1) // 3 + 1, YEAR: 1}[kind]
        return cls(local.year, kind, index)

    @property
    def key(self) -> str:
        return {MONTH: f"{self.year}-{self.index:02d}", QUARTER: f"{self.year}-Q{self.index}",
                YEAR: f"{self.year}"}[self.kind]

    def __str__(self) -> str:
        return self.key

    @property
    def months(self) -> int:
        return {MONTH: 1, QUARTER: 3, YEAR: 12}[self.kind]

    @property
    def first_month(self) -> int:
        return {MONTH: self.index, QUARTER: (self.index - 1) * 3 + 1, YEAR: 1}[self.kind]

    @property
    def start(self) -> datetime:
        return _local_midnight(self.year, self.first_month)

    @property
    def end(self) -> datetime:
        month = self.first_month + self.months
        return _local_midnight(self.year + (month - 1) // 12, (month - 1) % 12 + 1)

    @property
    def year_start(self) -> datetime:
        return _local_midnight(self.year, 1)

    @property
    def year_end(self) -> datetime:
        return _local_midnight(self.year + 1, 1)

    def cap(self, now: datetime) -> datetime:
        """min(end, now): the moment up to which the period counts (a future period caps at its start)."""
        return max(self.start, min(self.end, now))

    def shift(self, steps: int) -> Period:
        """The period `steps` periods later (earlier when negative), of the same kind."""
        per_year = 12 // self.months
        position = self.year * per_year + self.index - 1 + steps
        return Period(position // per_year, self.kind, position % per_year + 1)

    def previous(self) -> Period:
        return self.shift(-1)

    def trend(self, n: int = 12) -> list[Period]:
        """The n periods ending with this one, oldest first."""
        return [self.shift(step) for step in range(1 - n, 1)]

    def same_last_year(self) -> Period:
        return Period(self.year - 1, self.kind, self.index)

    def quarters_begun(self, now: datetime) -> list[Period]:
        """The quarters of this period that have begun by `now` (a month stands for its quarter)."""
        first = (self.first_month - 1) // 3 + 1
        last = first + max(self.months // 3, 1) - 1
        quarters = [Period(self.year, QUARTER, q) for q in range(first, last + 1)]
        return [q for q in quarters if q.start <= now]

    def elapsed_share_of_year(self, now: datetime) -> float:
        """Days of the year elapsed at the cap ÷ days of the year: the pro-rata factor of yearly targets."""
        year_seconds = (self.year_end - self.year_start).total_seconds()
        return (self.cap(now) - self.year_start).total_seconds() / year_seconds

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end
