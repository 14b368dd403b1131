-- Users are found by any part of their e-mail address, name or external id: an FTS5 index of
-- three-letter pieces (the trigram tokenizer) over one text of those fields, so "dana whit"
-- finds Dana Whitfield. The table keeps no copy of the text; the triggers give the old text
-- back to delete it.
CREATE VIRTUAL TABLE users_search USING fts5(text, content = '', tokenize = 'trigram');
INSERT INTO users_search (rowid, text)
SELECT id, email || ' ' || coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' '
    || coalesce(external_id, '')
FROM users;
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, text)
    VALUES (new.id, new.email || ' ' || coalesce(new.first_name, '') || ' '
        || coalesce(new.last_name, '') || ' ' || coalesce(new.external_id, ''));
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, text)
    VALUES ('delete', old.id, old.email || ' ' || coalesce(old.first_name, '') || ' '
        || coalesce(old.last_name, '') || ' ' || coalesce(old.external_id, ''));
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF email, first_name, last_name, external_id
    ON users BEGIN
    INSERT INTO users_search (users_search, rowid, text)
    VALUES ('delete', old.id, old.email || ' ' || coalesce(old.first_name, '') || ' '
        || coalesce(old.last_name, '') || ' ' || coalesce(old.external_id, ''));
    INSERT INTO users_search (rowid, text)
    VALUES (new.id, new.email || ' ' || coalesce(new.first_name, '') || ' '
        || coalesce(new.last_name, '') || ' ' || coalesce(new.external_id, ''));
END;
