-- no-transaction
-- `messages.sender_id` and `recipient_id` lose their `references users (id)`
-- on SQLite: the two parent-key lookups were a sixth of a message's insert
-- (4,700 of 29,700 instructions, docs/benchmarks.md round 27) for a fact
-- the domain already holds. A sender is the signed-in user, a recipient is
-- looked up before the send (`Messages::counterpart`), and no user row is
-- ever deleted (account deletion marks `users.deleted_at`). PostgreSQL keeps
-- its constraints.
--
-- SQLite cannot drop a constraint, so the table is rebuilt as its manual
-- says (https://sqlite.org/lang_altertable.html, "other kinds of table
-- schema changes"): with foreign keys off, which only works outside a
-- transaction, hence `no-transaction` and the explicit one below. The
-- columns keep their order, so `select *` copies every row as it was,
-- `seq` included. Run twice (a crash after the commit, before sqlx records
-- the migration), it rebuilds the same table again.
pragma foreign_keys = off;
begin;
create table messages_rebuilt (
    -- insertion order: the tie-breaker for equal timestamps and the history cursor
    seq               integer primary key,
    id                text not null unique,
    sender_id         text not null,
    recipient_id      text not null,
    content           text not null,
    type              text not null,
    status            text not null,
    created_at        text not null,
    read_at           text,
    file_url          text,
    file_name         text,
    file_size         integer,
    file_type         text,
    waveform          text,
    duration          real,
    client_message_id text,
    thumbnail_url     text,
    edited_at         text,
    deleted_at        text,
    reply_to_id       text
);
insert into messages_rebuilt select * from messages;
drop table messages;
alter table messages_rebuilt rename to messages;

-- What `drop table` took with it, as the earlier migrations made it.
create index messages_pair on messages (sender_id, recipient_id, seq);
create unique index messages_client_id on messages (sender_id, client_message_id)
    where client_message_id is not null;
create index messages_file on messages (file_url) where file_url is not null;
create index messages_files on messages (sender_id, file_size) where file_url is not null;
create index messages_pending on messages (recipient_id, seq) where status = 'sent';

create trigger unread_counts_deleted after update of deleted_at on messages
when (old.read_at is null and old.deleted_at is null)
    <> (new.read_at is null and new.deleted_at is null)
    and old.seq <= (select seq from unread_watermark)
begin
    insert into unread_counts (recipient_id, sender_id, n)
    values (new.recipient_id, new.sender_id,
            case when new.read_at is null and new.deleted_at is null then 1 else -1 end)
    on conflict (recipient_id, sender_id) do update set n = n + excluded.n;
end;

create trigger unread_counts_delete after delete on messages
when old.read_at is null and old.deleted_at is null
    and old.seq <= (select seq from unread_watermark)
begin
    update unread_counts set n = n - 1
    where recipient_id = old.recipient_id and sender_id = old.sender_id;
end;
commit;
pragma foreign_keys = on;
