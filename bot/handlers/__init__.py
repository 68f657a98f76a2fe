"""Telegram handlers: thin functions that parse an update, call the engine or storage, and
render with :mod:`bot.keyboards`."""
