-- Migration 5: a job's durable steps (issue 9): name -> JSON data, recorded by its
-- attempts (`ctx.step`) so a retried or recovered attempt resumes where they got to.
-- Appended as the last column, as `Job.steps` is its last field.
ALTER TABLE jobs ADD COLUMN steps TEXT;
