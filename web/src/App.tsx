// Who is logged in: the token lives in localStorage so a reload keeps the session.
import { useCallback, useEffect, useState } from 'react';
import { api, type Session } from './lib/api';
import { AuthScreen } from './components/AuthScreen';
import { ChatScreen } from './components/ChatScreen';
import { disablePush } from './lib/notify';
import { ApiError } from './lib/api';

const KEY = 'chatr.token';
/** The user of the kept token, so that the app opens without a network. */
const USER_KEY = 'chatr.user';

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(() => Boolean(localStorage.getItem(KEY)));

  useEffect(() => {
    const token = localStorage.getItem(KEY);
    if (!token) return;
    api.me(token)
      .then((user) => { localStorage.setItem(USER_KEY, JSON.stringify(user)); setSession({ token, user }); })
      .catch((err) => {
        // Offline (or the server is away): open with what was kept; the
        // chat says it is offline and catches up when it can.
        const kept = localStorage.getItem(USER_KEY);
        if (!(err instanceof ApiError && err.status > 0) && kept) setSession({ token, user: JSON.parse(kept) });
        else localStorage.removeItem(KEY);
      })
      .finally(() => setChecking(false));
  }, []);

  const signedIn = (s: Session) => {
    localStorage.setItem(KEY, s.token);
    localStorage.setItem(USER_KEY, JSON.stringify(s.user));
    setSession(s);
  };
  // Stable, since the socket's lifetime depends on it.
  const forget = useCallback(() => {
    localStorage.removeItem(KEY);
    localStorage.removeItem(USER_KEY);
    // The server dropped this session's subscription; the browser's goes too.
    void disablePush().catch(() => undefined);
    setSession(null);
  }, []);
  /** Logging out revokes this token on the server too. */
  const signOut = useCallback(() => {
    const token = localStorage.getItem(KEY);
    if (token) void api.logout(token).catch(() => undefined);
    forget();
  }, [forget]);

  if (checking) return <div className="splash" aria-busy="true">Chatr</div>;
  if (!session) return <AuthScreen onSignedIn={signedIn} />;
  return <ChatScreen session={session} onSignOut={signOut} onExpired={forget} onSession={signedIn}
    onProfile={(user) => setSession({ ...session, user })} />;
}
