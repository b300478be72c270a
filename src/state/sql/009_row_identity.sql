-- Tables without a replication key (issue 11): a row is identified by its full image. 'key':
-- the log holds key_columns and the stream re-reads current rows by key; 'row': key_columns
-- is empty, the log holds whole row images and the stream applies their net counts.
alter table pgferry.tables add column if not exists identity text not null default 'key';
-- A keyless table whose log holds rows of another shape (it resumed after DDL on the source):
-- its next window copies it whole instead of applying the log (stream/apply-window.ts).
alter table pgferry.tables add column if not exists recopy boolean not null default false;
