"""A local Slack: the Web API the bot calls, and the requests Slack sends the bot, in memory."""
