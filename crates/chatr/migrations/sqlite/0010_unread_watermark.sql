-- Unread counts written once per interval instead of once per commit
-- (docs/benchmarks.md, round 21). `unread_counts` now counts the messages up
-- to `unread_watermark.seq`; those above it are few (at most the writer's
-- last interval, `writer::sqlite::UNREAD_EVERY`) and are counted from
-- `messages` where the counts are read. The writer moves the watermark up
-- inside one of its transactions, adding what lies between to the counts,
-- so both halves always change together and a crash loses nothing.
--
-- A message above the watermark is counted by whoever reads it, so changes
-- to it count nothing here: the triggers count only below the watermark.
create table unread_watermark (seq integer not null);
insert into unread_watermark (seq) select coalesce(max(seq), 0) from messages;

drop trigger unread_counts_deleted;
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

drop trigger unread_counts_delete;
create trigger unread_counts_delete after delete on messages
when old.read_at is null and old.deleted_at is null
    and old.seq <= (select seq from unread_watermark)
begin
    update unread_counts set n = n - 1
    where recipient_id = old.recipient_id and sender_id = old.sender_id;
end;
