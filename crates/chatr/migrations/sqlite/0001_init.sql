-- Ids are lowercase UUID text and timestamps ISO-8601 UTC text with millisecond
-- precision, so that the same SQL runs on SQLite and PostgreSQL and sorts right.
create table users (
    id            text primary key,
    username      text not null,
    email         text not null,
    password_hash text not null,
    profile_image text,
    last_seen     text,
    created_at    text not null
);
create unique index users_username on users (lower(username));
create unique index users_email on users (lower(email));

create table messages (
    -- insertion order: the tie-breaker for equal timestamps and the history cursor
    seq               integer primary key,
    id                text not null unique,
    sender_id         text not null references users (id),
    recipient_id      text not null references users (id),
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
    client_message_id text
);
-- history in both directions and the last message of a conversation
create index messages_pair on messages (sender_id, recipient_id, seq);
-- offline delivery: what is still 'sent' to a user, oldest first
create index messages_pending on messages (recipient_id, seq) where status = 'sent';
-- unread counts
create index messages_unread on messages (recipient_id, sender_id) where read_at is null;
-- clientMessageId idempotency
create unique index messages_client_id on messages (sender_id, client_message_id)
    where client_message_id is not null;

-- Two users are contacts once they have exchanged a message; user_a < user_b.
create table contacts (
    user_a text not null references users (id),
    user_b text not null references users (id),
    primary key (user_a, user_b)
);
create index contacts_b on contacts (user_b, user_a);
