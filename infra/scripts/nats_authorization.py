"""Write infra/nats/authorization.conf (compose's NATS users) from inbox_events.permissions: the one table.

Run after changing BUS_ACCESS; a test fails while the file is stale."""

from __future__ import annotations

from pathlib import Path

from inbox_events.permissions import authorization_block, compose_passwords

TARGET = Path(__file__).resolve().parents[1] / "nats" / "authorization.conf"

if __name__ == "__main__":
    TARGET.write_text(authorization_block(compose_passwords()))
    print(f"wrote {TARGET}")
