-- Companies are found by any part of their name, external id, e-mail or website: an FTS5
-- index of three-letter pieces (the trigram tokenizer) over those fields, kept by triggers.
CREATE VIRTUAL TABLE companies_search USING fts5(
    name, external_id, email, website,
    content = 'companies', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO companies_search (companies_search) VALUES ('rebuild');
CREATE TRIGGER companies_search_insert AFTER INSERT ON companies BEGIN
    INSERT INTO companies_search (rowid, name, external_id, email, website)
    VALUES (new.id, new.name, new.external_id, new.email, new.website);
END;
CREATE TRIGGER companies_search_delete AFTER DELETE ON companies BEGIN
    INSERT INTO companies_search (companies_search, rowid, name, external_id, email, website)
    VALUES ('delete', old.id, old.name, old.external_id, old.email, old.website);
END;
CREATE TRIGGER companies_search_update AFTER UPDATE OF name, external_id, email, website
    ON companies BEGIN
    INSERT INTO companies_search (companies_search, rowid, name, external_id, email, website)
    VALUES ('delete', old.id, old.name, old.external_id, old.email, old.website);
    INSERT INTO companies_search (rowid, name, external_id, email, website)
    VALUES (new.id, new.name, new.external_id, new.email, new.website);
END;
