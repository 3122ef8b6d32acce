import pytest

from bot.domain.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), (45, 45), ("45", 45)],
)
def test_parses_author_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "15 minutes", "m15", "0s", 0, -5, True, 1.5, "1.5h"])
def test_rejects_what_is_not_a_duration(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_formats_back_to_the_short_form() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_duration(parse_duration("2h15m10s")) == "2h15m10s"
