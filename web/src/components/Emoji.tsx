// Reactions: the quick bar every messenger has, and a small picker behind "+".
import { useEffect, useRef } from 'react';

export const QUICK = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

const GROUPS: [string, string[]][] = [
  ['Smileys', ['😀', '😁', '😅', '🤣', '😊', '😍', '😘', '😎', '🤔', '😐', '🙄', '😴', '😬', '🤯', '😡', '🥳', '🤗', '😇']],
  ['Gestures', ['👏', '🙌', '👋', '🤝', '✌️', '🤞', '👌', '👎', '💪', '🫶', '🙈', '🤷']],
  ['Hearts', ['🧡', '💛', '💚', '💙', '💜', '🖤', '💔', '💯', '✨', '🔥', '⭐', '🎉']],
  ['Things', ['☕', '🍕', '🍰', '🍻', '⚽', '🎵', '📷', '💡', '✅', '❌', '⏰', '🚀']],
];

/** The quick bar; `mine` marks the viewer's current reaction. */
export function QuickBar({ mine, onPick, onMore }: { mine?: string; onPick: (emoji: string) => void; onMore: () => void }) {
  return (
    <div className="quick" role="group" aria-label="React">
      {QUICK.map((e) => (
        <button key={e} type="button" className={e === mine ? 'chosen' : ''} aria-label={`React ${e}`} aria-pressed={e === mine} onClick={() => onPick(e)}>{e}</button>
      ))}
      <button type="button" aria-label="More reactions" onClick={onMore}>+</button>
    </div>
  );
}

export function Picker({ onPick, onClose }: { onPick: (emoji: string) => void; onClose: () => void }) {
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => { first.current?.focus(); }, []);
  return (
    <div className="picker" role="dialog" aria-label="Pick a reaction" onKeyDown={(e) => { if (e.key === 'Escape') onClose(); }}>
      {GROUPS.map(([name, list], g) => (
        <section key={name} aria-label={name}>
          <h4>{name}</h4>
          <div>
            {list.map((e, i) => (
              <button key={e} ref={g === 0 && i === 0 ? first : undefined} type="button" aria-label={`React ${e}`} onClick={() => onPick(e)}>{e}</button>
            ))}
          </div>
        </section>
      ))}
    </div>
  );
}
