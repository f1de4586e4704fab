-- Web Push (issue 14): a browser's subscription belongs to the session
-- (token) that registered it and goes away with it. One row per endpoint:
-- a browser that subscribes again, for another account, takes it over.
create table push_subscriptions (
    endpoint   text primary key,
    user_id    text not null references users (id),
    token_id   text not null,
    expires_at bigint not null,
    p256dh     text not null,
    auth       text not null,
    created_at text not null
);
create index push_subscriptions_user on push_subscriptions (user_id);
create index push_subscriptions_token on push_subscriptions (token_id);

-- Whether pushes show who wrote and what (1), or only "New message" (0).
alter table users add column push_previews bigint not null default 1;
