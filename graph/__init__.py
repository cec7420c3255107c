"""Directory adapters: Microsoft Graph (`GraphDirectory`) and a YAML file (`LocalDirectory`)."""
