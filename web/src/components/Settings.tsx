// The settings panel: who sees one's presence, the password, logging out
// everywhere, one's own data, and deleting the account.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, type Session } from '../lib/api';
import type { User, Visibility } from '../lib/types';
import { disablePush, enablePush, type PushState } from '../lib/notify';

interface Props {
  token: string;
  me: User;
  onClose: () => void;
  onProfile: (user: User) => void;
  /** A new token (after a password change). */
  onSession: (session: Session) => void;
  /** The account's tokens are gone (logged out everywhere, deleted). */
  onSignedOut: () => void;
  /** Whether this browser gets pushes (null while unknown). */
  push: PushState | null;
  onPush: (state: PushState) => void;
}

const PUSH_STATES: Record<PushState, string> = {
  on: 'On: this browser shows new messages while Chatr is closed.',
  off: 'Off for this browser.',
  denied: 'Blocked in this browser’s site settings; allow notifications there first.',
  unsupported: 'This browser cannot receive notifications from Chatr (on iPhone and iPad, add Chatr to the home screen first).',
};

const AUDIENCES: [Visibility, string, string][] = [
  ['everyone', 'Everyone', 'Anyone who looks you up sees when you are online and when you were last seen.'],
  ['contacts', 'My contacts', 'Only people you have exchanged a message with.'],
  ['nobody', 'Nobody', 'You always appear offline, with no last seen.'],
];

const why = (err: unknown) => (err instanceof ApiError ? err.message : 'Something went wrong; try again.');

export function Settings({ token, me, onClose, onProfile, onSession, onSignedOut, push, onPush }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [visibility, setVisibility] = useState<Visibility>(me.presenceVisibility ?? 'everyone');
  const [note, setNote] = useState<{ where: string; text: string; bad?: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [deletePassword, setDeletePassword] = useState('');
  const [sure, setSure] = useState(false);
  const [previews, setPreviews] = useState<boolean | null>(null);

  useEffect(() => { api.pushPreferences(token).then((p) => setPreviews(p.previews)).catch(() => setPreviews(null)); }, [token]);

  function togglePush() {
    void run('push', async () => {
      const state = push === 'on' ? await disablePush(token) : await enablePush(token);
      onPush(state);
      return state === 'on' ? 'Notifications are on.' : state === 'off' ? 'Notifications are off.' : null;
    });
  }

  function choosePreviews(on: boolean) {
    setPreviews(on);
    void run('push', async () => {
      setPreviews((await api.setPushPreferences(token, on)).previews);
      return 'Saved.';
    });
  }

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal?.();
  }, []);

  async function run(where: string, work: () => Promise<string | null>) {
    setBusy(true);
    setNote(null);
    try {
      const text = await work();
      if (text) setNote({ where, text });
    } catch (err) {
      setNote({ where, text: why(err), bad: true });
    } finally {
      setBusy(false);
    }
  }

  function choose(v: Visibility) {
    setVisibility(v);
    void run('visibility', async () => {
      onProfile(await api.setVisibility(token, v));
      return 'Saved.';
    });
  }

  function changePassword(e: FormEvent) {
    e.preventDefault();
    void run('password', async () => {
      const session = await api.changePassword(token, current, next);
      setCurrent('');
      setNext('');
      onSession(session);
      return 'Password changed. Every other device is logged out.';
    });
  }

  function exportData() {
    void run('export', async () => {
      const blob = await api.exportData(token);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `chatr-${me.username}.zip`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      return 'Your data is downloading.';
    });
  }

  function deleteAccount(e: FormEvent) {
    e.preventDefault();
    if (!sure) return;
    void run('delete', async () => {
      await api.deleteAccount(token, deletePassword);
      onSignedOut();
      return null;
    });
  }

  const said = (where: string) => note?.where === where
    ? <p className={note.bad ? 'error' : 'ok'} role={note.bad ? 'alert' : 'status'}>{note.text}</p>
    : null;

  return (
    <dialog ref={dialog} className="settings" aria-label="Settings" onCancel={onClose}>
      <header>
        <h2>Settings</h2>
        <button type="button" className="icon" aria-label="Close settings" onClick={onClose}>✕</button>
      </header>

      <fieldset>
        <legend>Who sees when you are online</legend>
        {AUDIENCES.map(([value, label, hint]) => (
          <label key={value} className="choice">
            <input type="radio" name="visibility" value={value} checked={visibility === value} disabled={busy} onChange={() => choose(value)} />
            <span><strong>{label}</strong><small>{hint}</small></span>
          </label>
        ))}
        {said('visibility')}
      </fieldset>

      <fieldset>
        <legend>Notifications</legend>
        <p data-testid="push-state">{push ? PUSH_STATES[push] : 'Checking…'}</p>
        {(push === 'on' || push === 'off') && (
          <button type="button" disabled={busy} onClick={togglePush}>
            {push === 'on' ? 'Turn off notifications' : 'Turn on notifications'}
          </button>
        )}
        {previews !== null && (
          <label className="choice">
            <input type="checkbox" checked={previews} disabled={busy} onChange={(e) => choosePreviews(e.target.checked)} />
            <span><strong>Show previews</strong><small>Who wrote and the first words. Off: only “New message”.</small></span>
          </label>
        )}
        {said('push')}
      </fieldset>

      <form onSubmit={changePassword}>
        <fieldset>
          <legend>Password</legend>
          <label>Current password<input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required /></label>
          <label>New password<input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required minLength={8} /></label>
          <button type="submit" disabled={busy}>Change password</button>
          {said('password')}
        </fieldset>
      </form>

      <fieldset>
        <legend>Devices</legend>
        <p>Log out of Chatr on every device, this one included.</p>
        <button type="button" disabled={busy} onClick={() => void run('all', async () => { await api.logoutAll(token); onSignedOut(); return null; })}>
          Log out everywhere
        </button>
        {said('all')}
      </fieldset>

      <fieldset>
        <legend>Your data</legend>
        <p>A ZIP of your profile, every message you sent or received, and the files you sent.</p>
        <button type="button" disabled={busy} onClick={exportData}>Export my data</button>
        {said('export')}
      </fieldset>

      <form onSubmit={deleteAccount}>
        <fieldset className="danger-zone">
          <legend>Delete account</legend>
          <p>Your messages become “message deleted” for the people you talked to, your files are removed, and your name is freed. This cannot be undone.</p>
          <label>Password<input type="password" autoComplete="current-password" value={deletePassword} onChange={(e) => setDeletePassword(e.target.value)} required /></label>
          <label className="choice"><input type="checkbox" checked={sure} onChange={(e) => setSure(e.target.checked)} /> <span>I understand</span></label>
          <button type="submit" className="danger" disabled={busy || !sure}>Delete my account</button>
          {said('delete')}
        </fieldset>
      </form>
    </dialog>
  );
}
