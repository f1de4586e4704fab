-- Unread counts kept as counts, one row per recipient and sender, instead
-- of read from an index of every unread message (0007's messages_inbox),
-- which grew with every message left unread and took a leaf write per
-- recipient per commit. A message counts while it is neither read nor
-- deleted. The writer counts what it stores and what gets read, once per
-- conversation per batch (`writer::Unread`); unsends and tombstones, rare
-- and made on several paths, are counted by a trigger, which no path can
-- forget. (The SQLite migration of the same number says more.)
create table unread_counts (
    recipient_id text collate "C" not null,
    sender_id    text collate "C" not null,
    n            bigint not null,
    primary key (recipient_id, sender_id)
);

insert into unread_counts (recipient_id, sender_id, n)
    select recipient_id, sender_id, count(*) from messages
    where read_at is null and deleted_at is null
    group by recipient_id, sender_id;

create function unread_counts_track() returns trigger language plpgsql as $$
declare
    was boolean := old.read_at is null and old.deleted_at is null;
    now_unread boolean := tg_op = 'UPDATE' and new.read_at is null and new.deleted_at is null;
begin
    if was = now_unread then
        return null;
    end if;
    insert into unread_counts (recipient_id, sender_id, n)
    values (old.recipient_id, old.sender_id, case when now_unread then 1 else -1 end)
    on conflict (recipient_id, sender_id) do update set n = unread_counts.n + excluded.n;
    return null;
end
$$;

create trigger unread_counts_track
after update of deleted_at or delete on messages
for each row execute function unread_counts_track();

drop index messages_inbox;
create index messages_pending on messages (recipient_id, seq) where status = 'sent';
