-- PLACEHOLDER on branch i9-actions only, so the migrations stay numbered 1..N here: the
-- real migration of this number belongs to another helper's branch; on merge, take theirs.
CREATE TABLE IF NOT EXISTS placeholder_migration_unused (id INTEGER PRIMARY KEY) STRICT;
DROP TABLE placeholder_migration_unused;
