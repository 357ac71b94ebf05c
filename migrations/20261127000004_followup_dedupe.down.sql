DROP INDEX IF EXISTS followups_sequence_step;
