"""How a customer is addressed, the same in every service that writes to them."""

from __future__ import annotations


def first_name_of(customer_label: str) -> str:
    """A first name to greet with, when the label is a name (not a number, an address or a visitor id)."""
    first = customer_label.split()[0] if customer_label.split() else ""
    if not first or customer_label.startswith("Visitor ") or any(c.isdigit() or c == "@" for c in first):
        return ""
    return first
