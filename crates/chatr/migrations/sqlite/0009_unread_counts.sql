-- Unread counts kept as counts, one row per recipient and sender, instead
-- of read from an index of every unread message (0007's messages_inbox).
-- That index grew with every message left unread, and each commit rewrote
-- one of its leaves per recipient it touched; these rows are a page or two
-- for everyone a batch touches (docs/benchmarks.md, round 15).
--
-- A message counts while it is neither read nor deleted, as the query it
-- replaces counted. The writer counts what it stores and what gets read,
-- once per conversation per batch (`writer::Unread`): a trigger per stored
-- message cost the send → receive tail more than the index did. Unsends and
-- tombstones, rare and made on several paths (the writer, account
-- deletion), are counted by triggers, which no path can forget.
create table unread_counts (
    recipient_id text not null,
    sender_id    text not null,
    n            integer not null,
    primary key (recipient_id, sender_id)
) without rowid;

insert into unread_counts (recipient_id, sender_id, n)
    select recipient_id, sender_id, count(*) from messages
    where read_at is null and deleted_at is null
    group by recipient_id, sender_id;

create trigger unread_counts_deleted after update of deleted_at on messages
when (old.read_at is null and old.deleted_at is null)
    <> (new.read_at is null and new.deleted_at is null)
begin
    insert into unread_counts (recipient_id, sender_id, n)
    values (new.recipient_id, new.sender_id,
            case when new.read_at is null and new.deleted_at is null then 1 else -1 end)
    on conflict (recipient_id, sender_id) do update set n = n + excluded.n;
end;

create trigger unread_counts_delete after delete on messages
when old.read_at is null and old.deleted_at is null
begin
    update unread_counts set n = n - 1
    where recipient_id = old.recipient_id and sender_id = old.sender_id;
end;

-- Offline delivery reads what is still 'sent': an index that empties as
-- messages are delivered, so it stays small whether or not they are read,
-- and a connect no longer walks past messages delivered but unread.
drop index messages_inbox;
create index messages_pending on messages (recipient_id, seq) where status = 'sent';
