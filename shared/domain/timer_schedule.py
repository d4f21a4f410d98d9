"""RETRAIN_SCHEDULE, checked at start-up the way the Functions host reads a timer schedule.

The host's timer extension (``TimerSchedule.Create`` in azure-webjobs-sdk-extensions) first parses the
expression as NCRONTAB with the NCrontab library, then, failing that, as a .NET ``TimeSpan``; anything
else disables the function at indexing ("The schedule expression '...' was not recognized as a valid
cron expression or timespan string"). Checking here turns that silent loss of the timer into a start-up
error that names the setting.

NCRONTAB (NCrontab's ``CrontabSchedule`` / ``CrontabFieldImpl``; Microsoft's timer-trigger docs):
six space-separated fields ``{second} {minute} {hour} {day} {month} {day-of-week}``, or five without
the seconds (``CronSchedule.HasSeconds``: any count other than five means seconds are included). Each
field is a comma-separated list of ``*``, a value, or a range ``a-b``, each optionally followed by a
step ``/n``; a value followed by a step runs from that value to the field's maximum. Months and days of
the week also take their English names or any prefix of them, in any case (``Jan``, ``mon``).
Day-of-week is 0-6 with Sunday = 0. Two places are a little stricter than the library: a step must be
at least 1 (NCrontab reads ``/0`` as ``/1``) and numbers are plain ASCII digits.

TimeSpan (``hh:mm:ss``, ``d.hh:mm:ss``, ``d:hh:mm:ss``, ``dd:hh:mm`` when the first number is 24 or
more): per the timer-trigger docs it "can be used only for a function app that runs on an App Service
Plan", i.e. a Dedicated plan, not Consumption, Flex Consumption (what infra/ deploys) or Premium. The
platform names the plan in ``WEBSITE_SKU`` (``Dynamic``, ``FlexConsumption``, ``ElasticPremium`` for those
three, as the Functions host's own constants spell them), so a TimeSpan is accepted only where
``WEBSITE_SKU`` names another (Dedicated) plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

NOT_DEDICATED_SKUS = frozenset({"dynamic", "flexconsumption", "elasticpremium"})
EXAMPLE = "'0 0 3 * * *' (03:00 UTC every day)"


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


FIELDS = (
    CronField("second", 0, 59),
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day", 1, 31),
    CronField(
        "month",
        1,
        12,
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
    ),
    CronField(
        "day-of-week", 0, 6, ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
    ),
)

_TIMESPAN = re.compile(
    r"(?:(?P<days>\d{1,8})[.:])?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2})(?::(?P<seconds>\d{1,2})(?:\.\d{1,7})?)?"
)


def check_schedule(expression: str, website_sku: str | None) -> str:
    """Returns ``expression`` if the host would run it on this plan; raises ValueError naming the fix."""
    if "\t" in expression or "\n" in expression:
        raise ValueError(f"separate the fields with spaces, not tabs or new lines; for example {EXAMPLE}")
    fields = expression.split()
    if ":" in expression and len(fields) == 1:
        _check_timespan(fields[0], website_sku)
        return expression
    if len(fields) not in (5, 6):
        raise ValueError(
            f"{expression!r} is neither an NCRONTAB expression (six fields: second minute hour day month "
            f"day-of-week, or five without the seconds) nor a TimeSpan; for example {EXAMPLE}"
        )
    for text, field in zip(fields, FIELDS[6 - len(fields) :], strict=True):
        _check_cron_field(text, field)
    return expression


def _check_cron_field(text: str, field: CronField) -> None:
    for item in text.split(","):
        base, slash, step = item.partition("/")
        if slash and not (step.isascii() and step.isdigit() and int(step) >= 1):
            raise ValueError(f"{field.name} field {text!r}: the step after '/' must be a whole number >= 1")
        if base == "*":
            continue
        low, dash, high = base.partition("-")
        for value in (low, high) if dash else (low,):
            _check_cron_value(value, field, text)


def _check_cron_value(value: str, field: CronField, text: str) -> None:
    if value.isascii() and value.isdigit():
        if not field.low <= int(value) <= field.high:
            raise ValueError(f"{field.name} field {text!r}: {value} is outside {field.low}-{field.high}")
        return
    if value and any(name.startswith(value.lower()) for name in field.names):
        return
    allowed = f"{field.low}-{field.high}"
    if field.names:
        allowed += " or a name such as " + ", ".join(name[:3].title() for name in field.names[:3]) + ", ..."
    raise ValueError(f"{field.name} field {text!r}: {value!r} is not a value; use *, {allowed}, a-b or */n")


def _check_timespan(text: str, website_sku: str | None) -> None:
    period = _timespan(text)
    if period is None or period <= timedelta(0):
        raise ValueError(
            f"{text!r} is not a positive TimeSpan (hh:mm:ss or d.hh:mm:ss); or use NCRONTAB {EXAMPLE}"
        )
    if website_sku is None or website_sku.lower() in NOT_DEDICATED_SKUS:
        plan = (
            f"WEBSITE_SKU={website_sku}"
            if website_sku
            else "WEBSITE_SKU is not set, so not an App Service plan"
        )
        raise ValueError(
            f"a TimeSpan schedule ({text}) runs only on an App Service (Dedicated) plan ({plan}); "
            f"use an NCRONTAB expression such as {EXAMPLE}"
        )


def _timespan(text: str) -> timedelta | None:
    """.NET ``TimeSpan`` text as the timer docs show it; None when it is not one."""
    found = _TIMESPAN.fullmatch(text)
    if found is None:
        return None
    days = int(found["days"] or 0)
    hours, minutes = int(found["hours"]), int(found["minutes"])
    seconds = int(found["seconds"] or 0)
    if found["days"] is None and found["seconds"] is not None and hours >= 24:
        # "25:00:00" is dd:hh:mm in .NET (the docs' "when the first two digits are 24 or greater").
        days, hours, minutes, seconds = hours, minutes, seconds, 0
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
