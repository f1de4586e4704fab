-- Image messages carry a preview (extra field `thumbnailUrl`, allowed by the contract).
alter table messages add column thumbnail_url text;
-- Serving /uploads/files/… looks up the original name for Content-Disposition.
create index messages_file on messages (file_url) where file_url is not null;
