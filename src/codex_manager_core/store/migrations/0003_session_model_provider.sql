-- Migration 3: the runtime's model provider of each session's thread (thread/start's `modelProvider`),
-- so session summaries report it instead of assuming codex's default ("openai").
-- NULL for sessions created before this column existed.
ALTER TABLE sessions ADD COLUMN model_provider TEXT;
