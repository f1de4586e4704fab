import type { User } from '../lib/types';

export function Avatar({ user, online }: { user: Pick<User, 'username' | 'profileImage'>; online?: boolean }) {
  return (
    <span className="avatar">
      {user.profileImage
        ? <img src={user.profileImage.replace(/\.(\w+)$/, '_64.$1')} alt={`${user.username}'s picture`} />
        : <span aria-hidden="true">{user.username.slice(0, 1).toUpperCase()}</span>}
      {online && <span className="dot" aria-label="online" />}
    </span>
  );
}
