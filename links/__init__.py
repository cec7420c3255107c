"""The recipient-facing link site (`/s/...`): routes, rate limit, pages. Never imports bot."""
