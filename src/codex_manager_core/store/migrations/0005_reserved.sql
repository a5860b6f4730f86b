-- PLACEHOLDER (branch i9-workers only): migration 5 belongs to another helper of issue 9.
-- It exists here only so that 0006 is numbered 1..N on this branch; drop this file when
-- merging with the real 0005.
SELECT 1;
