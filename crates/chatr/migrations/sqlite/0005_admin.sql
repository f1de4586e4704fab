-- Operators (issue 15): a role that may use /api/admin, and accounts an
-- operator disabled (no login while set; their tokens were revoked then).
alter table users add column role text not null default 'user';
alter table users add column disabled_at text;
