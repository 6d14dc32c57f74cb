"""Telegram, through its Bot API: a channel added by an adapter package alone (see ADAPTERS.md)."""
