"""SMS and phone over Twilio-compatible webhooks and REST API (Twilio itself, or any provider speaking it)."""
