-- The search index moves to a file of its own (chatr-search.db), kept by a
-- thread of its own that never takes this file's write lock: indexing in
-- this file cost the writer about a tenth of the runtime thread under load,
-- or, from another connection, held every write back while it ran
-- (docs/benchmarks.md, round 13). The new file is filled from the messages
-- on the first start.
drop table messages_fts;
drop table fts_state;
-- Messages whose searchable content changed (edited, unsent, their sender's
-- account deleted), noted in the transaction that changes them; the index
-- brings them up to date and the writer then deletes the entries.
-- AUTOINCREMENT: ids never go back, even after every row was deleted, so
-- the index's "done up to" mark stays meaningful.
create table search_changes (
    id  integer primary key autoincrement,
    seq integer not null
);
