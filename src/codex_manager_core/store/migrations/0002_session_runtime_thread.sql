-- Migration 2: the runtime thread behind a session, when it is not the session id.
--
-- A thread that had no rollout yet is lost when the runtime restarts; the manager then
-- starts a new thread for the session and keeps the session id (codex_manager_core/
-- thread_ids.py). NULL: the thread id is the session id.

ALTER TABLE sessions ADD COLUMN runtime_thread_id TEXT;
