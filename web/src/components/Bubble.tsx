// One message: text, an image thumbnail, a file to download, or a voice note.
import { useState } from 'react';
import { bytes, clock } from '../lib/format';
import { ticks } from '../lib/status';
import type { Shown } from '../lib/types';
import { AudioPlayer } from './AudioPlayer';
import { FileIcon, MicIcon } from './Icons';
import { ImageViewer } from './ImageViewer';

interface Props {
  m: Shown;
  mine: boolean;
  grouped: boolean;
  onRetry: (m: Shown) => void;
  onHeard: (m: Shown, fully: boolean) => void;
}

export function Bubble({ m, mine, grouped, onRetry, onHeard }: Props) {
  const t = ticks(m);
  const audio = m.type === 'audio' || m.type === 'voice';
  return (
    <div className={`bubble ${mine ? 'mine' : 'theirs'} ${grouped ? 'grouped' : ''} type-${m.type}`} data-id={m.id}
      data-unread={!mine && !m.readAt && !audio ? 'true' : 'false'}>
      <Body m={m} onHeard={onHeard} />
      {m.upload && m.pending && (
        <progress className="upload" max={1} value={m.upload.progress} aria-label={`Uploading ${m.fileName ?? ''}`} />
      )}
      {m.failed && (
        <p className="failed" role="alert">
          {m.error ?? 'Not sent.'}{' '}
          <button type="button" className="link" onClick={() => onRetry(m)}>Retry</button>
        </p>
      )}
      <span className="meta">
        {clock(m.createdAt)}
        {mine && (
          <span className={`ticks ${t.seen ? 'seen' : ''} ${audio ? 'audio' : ''}`} data-status={m.failed ? 'failed' : m.pending ? 'pending' : m.status}
            aria-label={t.label} title={t.label}>
            {audio && (m.status === 'listening' || m.status === 'listened') ? <><MicIcon />{m.status === 'listening' && <em> listening…</em>}</> : t.symbol}
          </span>
        )}
      </span>
    </div>
  );
}

function Body({ m, onHeard }: { m: Shown; onHeard: Props['onHeard'] }) {
  const [viewing, setViewing] = useState(false);
  const caption = m.content ? <p>{m.content}</p> : null;
  switch (m.type) {
    case 'image': {
      const thumb = m.upload?.previewUrl ?? m.thumbnailUrl ?? m.fileUrl;
      const alt = m.content || `Photo${m.fileName ? ` ${m.fileName}` : ''} from ${m.senderUsername}`;
      return (
        <>
          {thumb && (
            <button type="button" className="thumb" onClick={() => m.fileUrl && setViewing(true)} aria-label={`Open ${alt}`} disabled={!m.fileUrl}>
              <img src={thumb} alt={alt} loading="lazy" />
            </button>
          )}
          {viewing && m.fileUrl && <ImageViewer src={m.fileUrl} alt={alt} onClose={() => setViewing(false)} />}
          {caption}
        </>
      );
    }
    case 'file':
      return (
        <>
          {m.fileUrl
            ? <a className="file" href={m.fileUrl} download={m.fileName ?? undefined}><FileLine m={m} /></a>
            : <span className="file"><FileLine m={m} /></span>}
          {caption}
        </>
      );
    case 'audio':
    case 'voice':
      return (
        <>
          <AudioPlayer m={m} src={m.fileUrl} onHeard={(fully) => onHeard(m, fully)} />
          {caption}
        </>
      );
    default:
      return caption ?? <p />;
  }
}

function FileLine({ m }: { m: Shown }) {
  return (
    <>
      <FileIcon />
      <span className="file-name">{m.fileName ?? 'file'}</span>
      <span className="file-size">{bytes(m.fileSize)}</span>
    </>
  );
}
