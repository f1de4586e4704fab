-- What a recipient has not read yet, in one index instead of two: offline
-- delivery (status 'sent') and unread counts both read it. A message is
-- 'sent' only while unread, so every pending message is in it. Each stored
-- message now updates one of these indexes instead of two, and a
-- 'delivered' receipt, which changes only the status, updates none: the
-- hot path's page writes per message fell by a quarter (docs/benchmarks.md,
-- round 10). The price is paid on connect: the backlog walks past messages
-- delivered but still unread.
drop index messages_pending;
drop index messages_unread;
create index messages_inbox on messages (recipient_id, seq) where read_at is null;
