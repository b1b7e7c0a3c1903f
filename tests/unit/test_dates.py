"""gateway/dates.py: windows, buckets and gap filling, up to both ends of the calendar."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.dates import (
    Granularity,
    InvalidDate,
    Window,
    bucket_count,
    bucket_start,
    bucket_starts,
    fill_gaps,
    next_bucket,
    one_year_later,
    parse_day,
    rebucket,
    year_chunks,
)
from gateway.errors import BadUserInput

DAY, WEEK, MONTH, YEAR = Granularity.DAY, Granularity.WEEK, Granularity.MONTH, Granularity.YEAR
TODAY = date(2026, 11, 20)
Bucket = tuple[date, int]


# ---------------------------------------------------------------------- days and windows


@pytest.mark.parametrize(
    ("raw", "day"),
    [("2024-02-29", date(2024, 2, 29)), ("0001-01-01", date.min), ("9999-12-31", date.max)],
)
def test_real_days_are_read(raw: str, day: date) -> None:
    assert parse_day(raw) == day


@pytest.mark.parametrize(
    "raw", ["2023-02-29", "2024-1-1", "20240101", "2024-01-01T00:00", " 2024-01-01", 20240101]
)
def test_anything_else_is_an_invalid_date_that_keeps_what_was_sent(raw: object) -> None:
    assert parse_day(raw) == InvalidDate(str(raw))


def test_a_window_names_the_argument_that_is_not_a_day() -> None:
    with pytest.raises(BadUserInput) as raised:
        Window.of(date(2024, 1, 1), InvalidDate("2024-13-01"))
    assert raised.value.message == "endDate must be a calendar day written YYYY-MM-DD, not '2024-13-01'."
    assert raised.value.extensions == {"code": "BAD_USER_INPUT", "argument": "endDate"}


def test_a_window_may_not_end_before_it_starts() -> None:
    with pytest.raises(BadUserInput, match=r"^startDate 2024-05-02 is after endDate 2024-05-01\.$"):
        Window.of(date(2024, 5, 2), date(2024, 5, 1))
    assert Window.of(date(2024, 5, 1), date(2024, 5, 1)) == Window(date(2024, 5, 1), date(2024, 5, 1))
    assert Window.of(None, None) == Window()


def test_a_window_is_settled_once_it_ends_before_today() -> None:
    assert Window(end=TODAY - timedelta(days=1)).settled(TODAY)
    assert not Window(end=TODAY).settled(TODAY)
    assert not Window(start=date(2020, 1, 1)).settled(TODAY)  # open: today's counts still change


# ---------------------------------------------------------------------- buckets


@pytest.mark.parametrize(
    ("day", "granularity", "start"),
    [
        (date(2026, 11, 20), WEEK, date(2026, 11, 16)),
        (date(2026, 11, 16), WEEK, date(2026, 11, 16)),
        (date(2026, 11, 20), MONTH, date(2026, 11, 1)),
        (date(2026, 11, 20), YEAR, date(2026, 1, 1)),
        (date.min, WEEK, date.min),  # 0001-01-01 is a Monday
        (date(1, 1, 7), WEEK, date.min),
        (date.max, DAY, date.max),
        (date.max, WEEK, date(9999, 12, 27)),
        (date.max, MONTH, date(9999, 12, 1)),
        (date.max, YEAR, date(9999, 1, 1)),
    ],
)
def test_bucket_start(day: date, granularity: Granularity, start: date) -> None:
    assert bucket_start(day, granularity) == start


@pytest.mark.parametrize(
    ("start", "granularity"),
    [(date.max, DAY), (date(9999, 12, 27), WEEK), (date(9999, 12, 1), MONTH), (date(9999, 1, 1), YEAR)],
)
def test_the_last_bucket_of_the_calendar_has_no_next(start: date, granularity: Granularity) -> None:
    assert next_bucket(start, granularity) is None
    assert next_bucket(date(9998, 12, 1), granularity) is not None


def test_bucket_starts_run_to_the_end_of_the_calendar_and_stop() -> None:
    assert list(bucket_starts(date(9999, 12, 29), date.max, DAY)) == [
        date(9999, 12, 29),
        date(9999, 12, 30),
        date.max,
    ]
    assert list(bucket_starts(date(9999, 11, 15), date.max, MONTH)) == [date(9999, 11, 1), date(9999, 12, 1)]
    assert list(bucket_starts(date(9998, 6, 1), date.max, YEAR)) == [date(9998, 1, 1), date(9999, 1, 1)]
    assert list(bucket_starts(date.min, date(1, 1, 20), WEEK)) == [
        date(1, 1, 1),
        date(1, 1, 8),
        date(1, 1, 15),
    ]


def test_the_first_bucket_holds_the_first_day() -> None:
    # 2026-09-09 is a Wednesday: its week starts on the Monday before the window.
    assert list(bucket_starts(date(2026, 9, 9), date(2026, 9, 21), WEEK)) == [
        date(2026, 9, 7),
        date(2026, 9, 14),
        date(2026, 9, 21),
    ]


def test_no_buckets_when_the_last_day_comes_first() -> None:
    assert bucket_count(date(2024, 5, 2), date(2024, 5, 1), DAY) == 0
    assert list(bucket_starts(date(2024, 5, 2), date(2024, 5, 1), DAY)) == []
    # ... unless both fall in the same bucket.
    assert bucket_count(date(2024, 5, 2), date(2024, 5, 1), MONTH) == 1


edge_days = st.one_of(
    st.dates(date.min, date(1, 3, 1)),
    st.dates(date(9999, 10, 1), date.max),
    st.dates(date(2020, 1, 1), date(2030, 12, 31)),
)


@given(first=edge_days, last=edge_days, granularity=st.sampled_from(list(Granularity)))
def test_bucket_count_is_how_many_bucket_starts_there_are(
    first: date, last: date, granularity: Granularity
) -> None:
    if (last - first).days > 3000:
        last = first + timedelta(days=3000)  # the count is computed; the list is kept short
    assert bucket_count(first, last, granularity) == len(list(bucket_starts(first, last, granularity)))


def test_rebucket_sums_days_into_buckets_oldest_first() -> None:
    days = [(date(2026, 11, 18), 2), (date(2026, 10, 31), 1), (date(2026, 11, 1), 4), (date(2026, 11, 16), 3)]
    assert rebucket(days, MONTH) == [(date(2026, 10, 1), 1), (date(2026, 11, 1), 9)]
    assert rebucket(days, WEEK) == [(date(2026, 10, 26), 5), (date(2026, 11, 16), 5)]
    assert rebucket([], YEAR) == []


# ---------------------------------------------------------------------- gap filling


def filled(buckets: list[Bucket], window: Window, granularity: Granularity = DAY) -> list[Bucket]:
    return list(fill_gaps(buckets, lambda b: b[0], lambda d: (d, 0), window, granularity, TODAY))


def test_every_bucket_of_the_window_with_zeros_where_there_were_none() -> None:
    window = Window(date(2026, 11, 1), date(2026, 11, 4))
    got = filled([(date(2026, 11, 3), 5)], window)
    assert got == [
        (date(2026, 11, 1), 0),
        (date(2026, 11, 2), 0),
        (date(2026, 11, 3), 5),
        (date(2026, 11, 4), 0),
    ]


def test_open_ends_run_from_the_first_bucket_returned_to_today() -> None:
    got = filled([(date(2026, 11, 18), 2)], Window())
    assert got == [(date(2026, 11, 18), 2), (date(2026, 11, 19), 0), (TODAY, 0)]
    assert filled([], Window()) == []  # nothing returned and no start: nothing to fill
    assert filled([], Window(start=date(2026, 11, 19))) == [(date(2026, 11, 19), 0), (TODAY, 0)]


def test_buckets_outside_the_window_are_kept_in_order() -> None:
    # An upstream may answer with a bucket for today past the window's end (ERAS does).
    window = Window(date(2026, 11, 1), date(2026, 11, 2))
    got = filled([(date(2026, 10, 31), 7), (date(2026, 11, 2), 1), (TODAY, 3)], window)
    assert got == [(date(2026, 10, 31), 7), (date(2026, 11, 1), 0), (date(2026, 11, 2), 1), (TODAY, 3)]


def test_a_start_after_today_fills_just_its_own_bucket() -> None:
    got = filled([], Window(start=date(2026, 12, 5)), MONTH)
    assert got == [(date(2026, 12, 1), 0)]


def test_filling_stops_at_the_end_of_the_calendar() -> None:
    got = filled([], Window(date(9999, 12, 30), date.max))
    assert got == [(date(9999, 12, 30), 0), (date.max, 0)]


# ---------------------------------------------------------------------- one-year parts


def test_one_year_later() -> None:
    assert one_year_later(date(2021, 3, 15)) == date(2022, 3, 15)
    assert one_year_later(date(2024, 2, 29)) == date(2025, 2, 28)
    assert one_year_later(date(9999, 5, 1)) == date.max
    assert one_year_later(date(9998, 12, 31)) == date.max


def test_a_window_of_exactly_one_year_is_one_part() -> None:
    assert year_chunks(date(2021, 1, 1), date(2022, 1, 1)) == [(date(2021, 1, 1), date(2022, 1, 1))]


def test_parts_run_a_year_each_and_the_next_starts_the_day_after() -> None:
    assert year_chunks(date(2015, 4, 19), date(2016, 4, 21)) == [
        (date(2015, 4, 19), date(2016, 4, 19)),
        (date(2016, 4, 20), date(2016, 4, 21)),
    ]
    assert year_chunks(date(2024, 5, 2), date(2024, 5, 1)) == []


def test_most_stops_one_part_past_the_limit() -> None:
    """Enough for the caller to see that there are too many, without making them all."""
    parts = year_chunks(date.min, date.max, most=3)
    assert len(parts) == 4
    assert parts[0] == (date.min, date(2, 1, 1))
    assert year_chunks(date(2020, 1, 1), date(2021, 6, 1), most=3) == year_chunks(
        date(2020, 1, 1), date(2021, 6, 1)
    )


def test_the_last_part_ends_with_the_calendar() -> None:
    parts = year_chunks(date(9997, 6, 1), date.max)
    assert parts == [
        (date(9997, 6, 1), date(9998, 6, 1)),
        (date(9998, 6, 2), date(9999, 6, 2)),
        (date(9999, 6, 3), date.max),
    ]
