-- A dataset file kept in a directory or an S3-compatible bucket names its object here; a file
-- kept in the database (no object) has its bytes in dataset_file_chunks.
ALTER TABLE dataset_files ADD COLUMN object_key TEXT;
