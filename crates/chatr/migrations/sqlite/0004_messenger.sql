-- Messenger features (contract §6): edits, unsend, replies, reactions,
-- blocking, presence visibility, account deletion, full-text search.
alter table messages add column edited_at text;
alter table messages add column deleted_at text;
alter table messages add column reply_to_id text;

-- Earlier versions of edited messages; `edited_at` is when that version was replaced.
create table message_edits (
    seq        integer primary key,
    message_id text not null references messages (id),
    content    text not null,
    edited_at  text not null
);
create index message_edits_message on message_edits (message_id, seq);

-- One reaction per user per message.
create table reactions (
    message_id text not null references messages (id),
    user_id    text not null references users (id),
    emoji      text not null,
    created_at text not null,
    primary key (message_id, user_id)
);

create table blocks (
    blocker_id text not null references users (id),
    blocked_id text not null references users (id),
    created_at text not null,
    primary key (blocker_id, blocked_id)
);
create index blocks_blocked on blocks (blocked_id, blocker_id);

alter table users add column presence_visibility text not null default 'everyone';
alter table users add column deleted_at text;

-- A user's files, for the storage quota and for account deletion and export.
create index messages_files on messages (sender_id, file_size) where file_url is not null;

-- Full-text search over message content, kept by the writer: new messages
-- are indexed in batches off the commit path (fts_state.indexed_seq says how
-- far), edits and unsends update their row at once.
create virtual table messages_fts using fts5 (
    content,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
create table fts_state (id integer primary key check (id = 1), indexed_seq integer not null);
insert into fts_state (id, indexed_seq) select 1, coalesce(max(seq), 0) from messages;
insert into messages_fts (rowid, content) select seq, content from messages where content <> '';
