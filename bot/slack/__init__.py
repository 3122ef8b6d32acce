"""The Slack shell: ids, payload models, Block Kit builders and message text."""
