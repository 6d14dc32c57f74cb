"""MongoDB implementation of ConversationStore: the production store, selected by `MONGODB_URI`.

No multi-document transactions, so it holds on a sharded cluster. The invariants rest on inserts
with unique keys alone, the one write that is atomic on every server speaking the protocol (FerretDB
1.24 applies a conditional update or an `$inc` as a read then a write, so two writers can both succeed):
- the customer's guard is a log of versions: a change is written only once it has inserted the
  customer's next version (`_id` "<customer>#<version>"); two replicas that read the same version cannot
  both insert the next, so they never both open an active conversation;
- an item's position is claimed by inserting it under the unique (conversation, sequence) index;
- every other write in a change is idempotent (inserts keyed by `_id`, upserts, set operations) and
  ordered so that a change interrupted half-way is finished when its event is delivered again: the
  customer's active conversation is written before the conversation, a provider key before its item,
  and the ids the domain derives (conversation from first message, activity from its cause) repeat.
  An interrupted write can leave a gap in a conversation's positions; order is kept.
Counters (message count, last activity) and field updates are ordinary updates: atomic per document on
MongoDB; on FerretDB two writers of one conversation at once can lose one's fields. Nothing that an
invariant rests on is written that way.

Split by concern: `indexes` (collections), `documents` (mappers), `queries` (reads), `writes` (commit),
`upgrades` (documents of earlier releases).
"""

from __future__ import annotations

from inbox_threading.store.mongo.indexes import INDEXES
from inbox_threading.store.mongo.upgrades import UPGRADES
from inbox_threading.store.mongo.writes import ThreadWrites


class MongoConversationStore(ThreadWrites):
    SERVICE = "threading"
    INDEXES = INDEXES
    UPGRADES = UPGRADES
