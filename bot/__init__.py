"""The Teams conversation: the /api/messages edge, turns, commands, card actions, wording."""
