"""Pure domain code: no I/O, no Slack, no database."""
