"""Routing: agents, presence, capacity, the queue, and who gets each conversation (and why)."""
