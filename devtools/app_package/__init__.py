"""Build Exhibit's Teams app package: fill the manifest template, validate it, zip it with icons.

    .venv/bin/python -m devtools.app_package [--out DIR] [--bot-app-id GUID] \
        [--public-host HOST] ...

- `settings`: the values, from `EXHIBIT_*` environment variables (each has an overriding option);
- `manifest`: the template filled, the bot's command lists generated from
  `bot.commands.grammar.COMMANDS`, and the checks against Microsoft's bundled schema and Teams'
  bot command limits;
- `build`: the icons checked and `exhibit-<version>.zip` written, nothing before the checks pass;
- `cli`: the command line; `errors`: what goes wrong, each message shown to the admin.

The package imports only the standard library, jsonschema, `bot.commands.grammar` and
`exhibit.settings` (whose `TeamsAppSettings` declares the variables), so it runs without the
bot's SDKs and without the service's own settings.
"""
