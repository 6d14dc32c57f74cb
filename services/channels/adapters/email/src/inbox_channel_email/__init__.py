"""Email channel: mail to our support addresses in over SMTP, agents' replies out through a relay."""
