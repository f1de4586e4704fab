// Wire types of CONTRACT.md, as the client uses them.
export type MessageType = 'text' | 'image' | 'file' | 'audio' | 'voice';
export type Status = 'sent' | 'delivered' | 'read' | 'listening' | 'listened';
export type PresenceStatus = 'online' | 'away' | 'offline';

export type Visibility = 'everyone' | 'contacts' | 'nobody';

export interface User {
  id: string;
  username: string;
  email?: string;
  profileImage: string | null;
  lastSeen: string | null;
  createdAt: string;
  /** Only in one's own record. */
  presenceVisibility?: Visibility;
}

export interface ReplyTo {
  id: string;
  senderId: string;
  type: MessageType;
  content: string;
  deleted: boolean;
}

export interface Reaction {
  userId: string;
  emoji: string;
}

export interface Message {
  id: string;
  senderId: string;
  senderUsername: string;
  senderProfileImage: string | null;
  recipientId: string;
  content: string;
  type: MessageType;
  status: Status;
  createdAt: string;
  readAt: string | null;
  fileUrl: string | null;
  fileName: string | null;
  fileSize: number | null;
  fileType: string | null;
  waveform: number[] | null;
  duration: number | null;
  clientMessageId: string | null;
  thumbnailUrl?: string | null;
  editedAt: string | null;
  deletedAt: string | null;
  replyTo: ReplyTo | null;
  reactions: Reaction[];
}

/** A message as the client shows it: stored, or still on its way. */
export interface Shown extends Message {
  pending?: boolean;
  failed?: boolean;
  /** Why it failed, when the server said. */
  error?: string;
  /** An attachment still uploading: what is sent, how far it got, a local preview. */
  upload?: { file: Blob; progress: number; previewUrl: string | null };
}

export interface Conversation {
  user: User;
  lastMessage: Message;
  unreadCount: number;
  /** The caller blocks this user. */
  blocked: boolean;
}

export interface Edit {
  content: string;
  editedAt: string;
}

export interface Presence {
  userId: string;
  status: PresenceStatus;
  lastSeen: string | null;
}
