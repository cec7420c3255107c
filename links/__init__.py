"""The recipient-facing link site: the `/s/...` pages, their rate limit and their templates."""
