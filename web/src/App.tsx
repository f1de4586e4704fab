// Who is logged in: the token lives in localStorage so a reload keeps the session.
import { useCallback, useEffect, useState } from 'react';
import { api, type Session } from './lib/api';
import { AuthScreen } from './components/AuthScreen';
import { ChatScreen } from './components/ChatScreen';

const KEY = 'chatr.token';

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(() => Boolean(localStorage.getItem(KEY)));

  useEffect(() => {
    const token = localStorage.getItem(KEY);
    if (!token) return;
    api.me(token)
      .then((user) => setSession({ token, user }))
      .catch(() => localStorage.removeItem(KEY))
      .finally(() => setChecking(false));
  }, []);

  const signedIn = (s: Session) => {
    localStorage.setItem(KEY, s.token);
    setSession(s);
  };
  // Stable, since the socket's lifetime depends on it.
  const forget = useCallback(() => {
    localStorage.removeItem(KEY);
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
