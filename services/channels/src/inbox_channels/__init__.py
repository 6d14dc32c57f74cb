"""Channels: the runtime that hosts channel adapters, their webhooks and sockets, and delivery status."""
