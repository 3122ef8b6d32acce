from bot.slack.dedupe import SeenEvents


def test_repeats_are_dropped_until_they_expire() -> None:
    seen = SeenEvents(ttl=600)
    assert seen.first_time("Ev1", now=0)
    assert not seen.first_time("Ev1", now=300)  # Slack's retry after 5 minutes
    assert seen.first_time("Ev2", now=301)
    assert seen.first_time("Ev1", now=700)  # long gone: treated as new
