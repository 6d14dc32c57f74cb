"""The SQLite schema, as migrations applied in order at open (append; never edit a released one)."""

from __future__ import annotations

from inbox_events.channels import sql_name_of_enum

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    presence INTEGER NOT NULL,
    capacities TEXT NOT NULL,
    languages TEXT NOT NULL,
    last_assigned_at_us INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS assignments (
    conversation_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    channel INTEGER NOT NULL,
    inbox_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    agent_id TEXT NOT NULL DEFAULT '',
    since_us INTEGER NOT NULL,
    queued_at_us INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS assignments_load ON assignments(agent_id, channel) WHERE state = 2;
CREATE INDEX IF NOT EXISTS assignments_queue ON assignments(queued_at_us, conversation_id) WHERE state = 1;
"""

# Generations (see RouteRequest) and a customer index for erasure.
MIGRATION_V2 = """
ALTER TABLE assignments ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
CREATE INDEX assignments_by_customer ON assignments(customer_id);
"""

# Teams, skills, heartbeats; offers, priorities, rules and explanations.
MIGRATION_V3 = """
ALTER TABLE agents ADD COLUMN teams TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN skills TEXT NOT NULL DEFAULT '{}';
ALTER TABLE agents ADD COLUMN last_seen_at_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN offer_expires_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN excluded TEXT NOT NULL DEFAULT '[]';
ALTER TABLE assignments ADD COLUMN rule_id TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN escalation_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN request TEXT NOT NULL DEFAULT '{}';
ALTER TABLE assignments ADD COLUMN explanation TEXT NOT NULL DEFAULT '[]';
DROP INDEX assignments_load;
CREATE INDEX assignments_load ON assignments(agent_id, channel) WHERE state IN (2, 4);
DROP INDEX assignments_queue;
CREATE INDEX assignments_queue ON assignments(priority DESC, queued_at_us, conversation_id) WHERE state = 1;
CREATE INDEX assignments_offers ON assignments(offer_expires_us) WHERE state = 4;
CREATE INDEX assignments_known_agent ON assignments(customer_id, since_us DESC) WHERE agent_id != '';
CREATE TABLE routing_rules (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    document TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at_us INTEGER NOT NULL
);
"""

# Agents by team, so a decision for a team looks at that team's agents only.
MIGRATION_V4 = """
CREATE TABLE agent_teams (
    team TEXT NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents(agent_id),
    PRIMARY KEY (team, agent_id)
);
INSERT INTO agent_teams (team, agent_id) SELECT json_each.value, agents.agent_id FROM agents, json_each(agents.teams);
CREATE INDEX agents_by_presence ON agents(presence);
"""

# The queue position last told to the customer.
MIGRATION_V5 = """
ALTER TABLE assignments ADD COLUMN announced_position INTEGER NOT NULL DEFAULT 0;
"""

# Service-level timers.
MIGRATION_V6 = """
CREATE TABLE sla_timers (
    conversation_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    due_us INTEGER NOT NULL,
    breached INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sla_timers_due ON sla_timers(due_us) WHERE breached = 0;
ALTER TABLE assignments ADD COLUMN boost INTEGER NOT NULL DEFAULT 0;
"""

# The record's version: a change names the version it read (see changes.RoutingChange).
MIGRATION_V7 = """
ALTER TABLE assignments ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
"""

# What each agent holds per channel, kept by triggers in the transaction that changes an assignment: a
# decision reads its candidates' loads by agent, not by counting every conversation held on the channel.
MIGRATION_V8 = """
CREATE TABLE agent_loads (
    agent_id TEXT NOT NULL,
    channel INTEGER NOT NULL,
    held INTEGER NOT NULL,
    PRIMARY KEY (agent_id, channel)
);
INSERT INTO agent_loads (agent_id, channel, held)
    SELECT agent_id, channel, COUNT(*) FROM assignments WHERE state IN (2, 4) AND agent_id != ''
    GROUP BY agent_id, channel;
CREATE TRIGGER agent_loads_on_insert AFTER INSERT ON assignments
WHEN new.state IN (2, 4) AND new.agent_id != '' BEGIN
    INSERT INTO agent_loads (agent_id, channel, held) VALUES (new.agent_id, new.channel, 1)
    ON CONFLICT (agent_id, channel) DO UPDATE SET held = held + 1;
END;
CREATE TRIGGER agent_loads_on_delete AFTER DELETE ON assignments
WHEN old.state IN (2, 4) AND old.agent_id != '' BEGIN
    UPDATE agent_loads SET held = held - 1 WHERE agent_id = old.agent_id AND channel = old.channel;
END;
CREATE TRIGGER agent_loads_on_update_release AFTER UPDATE OF state, agent_id, channel ON assignments
WHEN old.state IN (2, 4) AND old.agent_id != '' BEGIN
    UPDATE agent_loads SET held = held - 1 WHERE agent_id = old.agent_id AND channel = old.channel;
END;
CREATE TRIGGER agent_loads_on_update_take AFTER UPDATE OF state, agent_id, channel ON assignments
WHEN new.state IN (2, 4) AND new.agent_id != '' BEGIN
    INSERT INTO agent_loads (agent_id, channel, held) VALUES (new.agent_id, new.channel, 1)
    ON CONFLICT (agent_id, channel) DO UPDATE SET held = held + 1;
END;
"""

# An agent's revision, raised by a trigger at every change of its row: a decision parses only the
# candidates whose row changed since it last looked.
MIGRATION_V9 = """
ALTER TABLE agents ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER agents_revision AFTER UPDATE ON agents BEGIN
    UPDATE agents SET revision = old.revision + 1 WHERE agent_id = new.agent_id;
END;
"""

# How many conversations wait at each priority, kept by triggers like agent_loads: a conversation joining
# the back of the queue learns its place without counting the queue ahead of it.
MIGRATION_V10 = """
CREATE TABLE queue_depths (
    priority INTEGER PRIMARY KEY,
    waiting INTEGER NOT NULL
);
INSERT INTO queue_depths (priority, waiting)
    SELECT priority, COUNT(*) FROM assignments WHERE state = 1 GROUP BY priority;
CREATE TRIGGER queue_depths_on_insert AFTER INSERT ON assignments
WHEN new.state = 1 BEGIN
    INSERT INTO queue_depths (priority, waiting) VALUES (new.priority, 1)
    ON CONFLICT (priority) DO UPDATE SET waiting = waiting + 1;
END;
CREATE TRIGGER queue_depths_on_delete AFTER DELETE ON assignments
WHEN old.state = 1 BEGIN
    UPDATE queue_depths SET waiting = waiting - 1 WHERE priority = old.priority;
END;
CREATE TRIGGER queue_depths_on_update_leave AFTER UPDATE OF state, priority ON assignments
WHEN old.state = 1 BEGIN
    UPDATE queue_depths SET waiting = waiting - 1 WHERE priority = old.priority;
END;
CREATE TRIGGER queue_depths_on_update_join AFTER UPDATE OF state, priority ON assignments
WHEN new.state = 1 BEGIN
    INSERT INTO queue_depths (priority, waiting) VALUES (new.priority, 1)
    ON CONFLICT (priority) DO UPDATE SET waiting = waiting + 1;
END;
"""

# Channels by name (`sms`, `telegram`) instead of the v1 enum's number: the assignments' and the loads'
# `channel` columns keep their declared type (SQLite keeps a name in them as text and compares it as text;
# rebuilding `assignments` would mean restating ten migrations of columns, indexes and triggers), and the
# agents' capacities are keyed by name. Changing an assignment's channel moves its load through the
# triggers, which leave the numbered loads at 0 to delete.
MIGRATION_V11 = f"""
UPDATE assignments SET channel = {sql_name_of_enum("channel")} WHERE typeof(channel) = 'integer';
DELETE FROM agent_loads WHERE typeof(channel) = 'integer';
UPDATE agents SET capacities = (
    SELECT json_group_object({sql_name_of_enum("CAST(key AS INTEGER)")}, value) FROM json_each(agents.capacities)
) WHERE capacities != '{{}}';
"""

# The floor's revision, raised by triggers at every change of a load or of what a decision reads of an agent:
# a process keeps the floor in memory as of a revision and reads it again only when something else moved it
# (see store/sqlite/floor.py). An agent's heartbeat (last seen) leaves it alone.
MIGRATION_V12 = """
CREATE TABLE floor_revision (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    revision INTEGER NOT NULL
);
INSERT INTO floor_revision (singleton, revision) VALUES (1, 0);
CREATE TRIGGER floor_on_load_insert AFTER INSERT ON agent_loads BEGIN
    UPDATE floor_revision SET revision = revision + 1;
END;
CREATE TRIGGER floor_on_load_update AFTER UPDATE ON agent_loads BEGIN
    UPDATE floor_revision SET revision = revision + 1;
END;
CREATE TRIGGER floor_on_load_delete AFTER DELETE ON agent_loads BEGIN
    UPDATE floor_revision SET revision = revision + 1;
END;
CREATE TRIGGER floor_on_agent_insert AFTER INSERT ON agents BEGIN
    UPDATE floor_revision SET revision = revision + 1;
END;
CREATE TRIGGER floor_on_agent_update
AFTER UPDATE OF display_name, presence, capacities, languages, teams, skills, last_assigned_at_us ON agents BEGIN
    UPDATE floor_revision SET revision = revision + 1;
END;
CREATE TRIGGER floor_on_agent_delete AFTER DELETE ON agents BEGIN
    UPDATE floor_revision SET revision = revision + 1;
END;
"""
MIGRATIONS = (
    SCHEMA,
    MIGRATION_V2,
    MIGRATION_V3,
    MIGRATION_V4,
    MIGRATION_V5,
    MIGRATION_V6,
    MIGRATION_V7,
    MIGRATION_V8,
    MIGRATION_V9,
    MIGRATION_V10,
    MIGRATION_V11,
    MIGRATION_V12,
)
