-- What a dataset changed in a record, for History: the values after the change, beside the
-- values before (which undo restores).
ALTER TABLE dataset_changes ADD COLUMN after_values TEXT;
