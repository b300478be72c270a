-- How the index stage builds a post-data item, worked out by the schema stage from the dump
-- (issue 3). Idempotent so a renumbering never breaks an upgrade.
alter table pgferry.post_data
  -- The relation the statement acts on: the table, a leaf partition, a materialized view.
  add column if not exists relation_schema text,
  add column if not exists relation_name text,
  -- pg_dump's entry type: INDEX, CONSTRAINT, INDEX ATTACH, FK CONSTRAINT, TRIGGER, ...
  add column if not exists dump_type text,
  -- Primary keys and unique constraints: CREATE UNIQUE INDEX first (SHARE lock, builds beside
  -- the table's other indexes), then ALTER TABLE ... ADD CONSTRAINT ... USING INDEX.
  add column if not exists index_statement text,
  add column if not exists constraint_statement text;

create index if not exists post_data_by_table on pgferry.post_data (table_id, stage, id);
