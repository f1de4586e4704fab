-- Token revocation (contract §2). A token is revoked alone (logout) by its
-- `jti`, kept until the token would have expired anyway, or with all of its
-- user's tokens issued before a moment (logout-all, password change), kept
-- on the user as milliseconds since the epoch.
create table revoked_tokens (
    jti        text primary key,
    user_id    text not null references users (id),
    expires_at bigint not null
);
create index revoked_tokens_expiry on revoked_tokens (expires_at);
alter table users add column tokens_valid_after bigint;
