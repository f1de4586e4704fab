// One's own avatar, which opens a small menu to change or remove the picture.
import { useRef, useState, type ChangeEvent } from 'react';
import { api, ApiError } from '../lib/api';
import type { User } from '../lib/types';
import { Avatar } from './Avatar';

export function ProfileMenu({ token, me, onChange, onSettings }: { token: string; me: User; onChange: (user: User) => void; onSettings: () => void }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const picker = useRef<HTMLInputElement>(null);

  async function run(work: () => Promise<string | null>) {
    setBusy(true);
    setError(null);
    try {
      onChange({ ...me, profileImage: await work() });
      setOpen(false);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Could not change the picture');
    } finally {
      setBusy(false);
    }
  }
  function onPick(e: ChangeEvent<HTMLInputElement>) {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (file) void run(async () => (await api.setProfileImage(token, file)).profileImage);
  }

  return (
    <div className="profile">
      <button type="button" className="avatar-button" aria-label="Profile and settings" aria-expanded={open} onClick={() => setOpen(!open)}>
        <Avatar user={me} />
      </button>
      {open && (
        <div className="menu" role="menu">
          <button type="button" role="menuitem" onClick={() => { setOpen(false); onSettings(); }}>Settings</button>
          <button type="button" role="menuitem" disabled={busy} onClick={() => picker.current?.click()}>Change picture</button>
          {me.profileImage && (
            <button type="button" role="menuitem" disabled={busy} onClick={() => void run(async () => { await api.removeProfileImage(token); return null; })}>Remove picture</button>
          )}
          {error && <p className="error" role="alert">{error}</p>}
        </div>
      )}
      <input ref={picker} type="file" accept="image/jpeg,image/png,image/gif,image/webp" hidden onChange={onPick} data-testid="profile-input" />
    </div>
  );
}
