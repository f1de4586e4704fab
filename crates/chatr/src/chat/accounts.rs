//! Accounts: finding people, and what a user changes about themself and
//! their relations: profile picture, presence visibility, blocks, and
//! deleting the account.

use std::sync::Arc;

use uuid::Uuid;

use super::limits::{Action, Limiter};
use super::notice::{Announcer, Notice};
use super::profiles::{Profile, Profiles};
use super::relations::Relations;
use super::sessions::Sessions;
use crate::clock;
use crate::error::{Error, Result};
use crate::media::Storage;
use crate::model::{Presence, PresenceStatus, UserRecord, Visibility};
use crate::store::Store;

#[derive(Clone)]
pub struct Accounts(Arc<Inner>);

struct Inner {
    store: Store,
    profiles: Arc<Profiles>,
    announce: Announcer,
    limiter: Limiter,
    relations: Relations,
    sessions: Sessions,
    storage: Storage,
}

/// Users one search returns at most.
const SEARCH_LIMIT: i64 = 50;

impl Accounts {
    pub fn new(
        store: Store,
        profiles: Arc<Profiles>,
        announce: Announcer,
        limiter: Limiter,
        relations: Relations,
        sessions: Sessions,
        storage: Storage,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            profiles,
            announce,
            limiter,
            relations,
            sessions,
            storage,
        }))
    }

    /// `GET /api/users/search`: users but `me` whose username contains
    /// `term`, or whose whole email is `term` (case-insensitive). A part of
    /// an email never matches, so hidden emails cannot be recovered by
    /// growing a search from `@` (contract §3).
    pub async fn search(&self, me: Uuid, term: &str) -> Result<Vec<UserRecord>> {
        let term = term.trim();
        if term.is_empty() {
            return Ok(Vec::new());
        }
        if term.chars().count() > 100 {
            return Err(Error::invalid_field("q", "q is at most 100 characters"));
        }
        if term.chars().any(char::is_control) {
            return Err(Error::invalid_field(
                "q",
                "q may not contain control characters",
            ));
        }
        self.0.limiter.check(me, Action::Search).await?;
        self.0.store.search_users(me, term, SEARCH_LIMIT).await
    }

    /// Before a profile picture's body is read: one upload, and its bytes.
    pub async fn admit_upload(&self, user: Uuid, bytes: u64) -> Result<()> {
        self.0.limiter.check(user, Action::Upload).await?;
        let cost = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.0
            .limiter
            .check_n(user, Action::UploadBytes, cost)
            .await
    }

    /// Tells every node that tokens of `user` stopped working (see `Notice::Revoked`).
    pub fn tokens_revoked(&self, user: Uuid, token: Option<(Uuid, i64)>, before_ms: Option<i64>) {
        self.0.announce.announce(Notice::Revoked {
            user,
            token,
            before_ms,
        });
    }

    /// Sets or clears a profile image; returns the previous one (for its files
    /// to be removed). New messages carry the new image at once, on every node.
    pub async fn set_profile_image(
        &self,
        user: Uuid,
        url: Option<String>,
    ) -> Result<Option<String>> {
        let profile = self
            .0
            .profiles
            .get(&self.0.store, user)
            .await?
            .ok_or_else(|| Error::not_found("user not found"))?;
        let previous = self.0.store.set_profile_image(user, url.as_deref()).await?;
        let username = profile.username.clone();
        self.0.profiles.put(
            user,
            Profile {
                username: username.clone(),
                profile_image: url.clone(),
            },
        );
        self.0.announce.announce(Notice::Profile {
            user,
            username,
            profile_image: url,
        });
        Ok(previous)
    }

    /// Offline with no lastSeen: how a user looks to someone outside their audience.
    fn hidden(user: Uuid) -> Presence {
        Presence {
            user_id: user,
            status: PresenceStatus::Offline,
            last_seen: None,
        }
    }

    /// `POST /api/users/:id/block` (`on`) and `DELETE` (unblock). While a
    /// block stands neither user sees the other's presence; writing either
    /// way is refused (`Relations::check_not_blocked`).
    pub async fn block(&self, blocker: Uuid, blocked: Uuid, on: bool) -> Result<()> {
        if blocker == blocked {
            return Err(Error::invalid("you cannot block yourself"));
        }
        if self.0.store.user_by_id(blocked).await?.is_none() {
            return Err(Error::not_found("user not found"));
        }
        if !self
            .0
            .store
            .set_block(blocker, blocked, on, &clock::now())
            .await?
        {
            return Ok(());
        }
        let graph = self.0.relations.graph();
        graph.set_block(blocker, blocked, on);
        self.0.announce.announce(Notice::Blocked {
            blocker,
            blocked,
            on,
        });
        let contacts = self
            .0
            .relations
            .contacts_of(blocker)
            .await?
            .contains(&blocked);
        for (who, whom) in [(blocker, blocked), (blocked, blocker)] {
            if on {
                self.0.announce.announce(Notice::Follow {
                    who,
                    whom,
                    on: false,
                });
                self.0.announce.announce(Notice::PresenceTo {
                    to: who,
                    presence: Self::hidden(whom),
                });
            } else if contacts && graph.sees(who, whom, true) {
                self.0.announce.announce(Notice::Follow {
                    who,
                    whom,
                    on: true,
                });
                let presence = self.0.sessions.current(whom).await?;
                self.0
                    .announce
                    .announce(Notice::PresenceTo { to: who, presence });
            }
        }
        Ok(())
    }

    /// `GET /api/users/blocked`.
    pub async fn blocked(&self, blocker: Uuid) -> Result<Vec<UserRecord>> {
        self.0.store.blocked_by(blocker).await
    }

    /// `PATCH /api/users/me` `{ presenceVisibility }`: who sees the user's
    /// presence from now on. Those who followed it hear "offline" and stop;
    /// the new audience's contacts follow it again and hear the current state.
    pub async fn set_visibility(&self, user: Uuid, visibility: Visibility) -> Result<()> {
        let graph = self.0.relations.graph();
        if graph.visibility(user) == visibility {
            return Ok(());
        }
        self.0.store.set_visibility(user, visibility).await?;
        graph.set_visibility(user, visibility);
        self.0
            .announce
            .announce(Notice::Visibility { user, visibility });
        self.0
            .announce
            .announce(Notice::Presence(Self::hidden(user)));
        self.0
            .announce
            .announce(Notice::ClearFollowers { whom: user });
        if visibility.shows_to(true) {
            for contact in self.0.relations.contacts_of(user).await? {
                if graph.sees(contact, user, true) {
                    self.0.announce.announce(Notice::Follow {
                        who: contact,
                        whom: user,
                        on: true,
                    });
                }
            }
            let presence = self.0.sessions.current(user).await?;
            self.0.announce.announce(Notice::Presence(presence));
        }
        Ok(())
    }

    /// Deletes an account (contract §6), once its password was checked: the
    /// messages it sent become tombstones (both sides hear `message:unsent`),
    /// its files and picture leave storage, its blocks go, its name and email
    /// are free again, and every token it had is revoked (`revoke_ms`).
    pub async fn delete(&self, user: Uuid, revoke_ms: i64) -> Result<()> {
        let at = clock::now();
        let deleted = self.0.store.delete_account(user, &at, revoke_ms).await?;
        self.0.store.remove_user_subscriptions(user).await?;
        for url in &deleted.files {
            self.0.storage.remove(url).await;
            if let Some(small) = crate::media::storage::small_avatar_url(url) {
                self.0.storage.remove(&small).await;
            }
        }
        let graph = self.0.relations.graph();
        for (blocker, blocked) in graph.blocks_involving(user) {
            graph.set_block(blocker, blocked, false);
            self.0.announce.announce(Notice::Blocked {
                blocker,
                blocked,
                on: false,
            });
        }
        graph.set_visibility(user, Visibility::Nobody);
        self.0.announce.announce(Notice::Visibility {
            user,
            visibility: Visibility::Nobody,
        });
        if let Some(record) = self.0.store.user_by_id(user).await? {
            self.0.profiles.put(
                user,
                Profile {
                    username: record.username.clone(),
                    profile_image: None,
                },
            );
            self.0.announce.announce(Notice::Profile {
                user,
                username: record.username,
                profile_image: None,
            });
        }
        self.0
            .announce
            .announce(Notice::ClearFollowers { whom: user });
        for (message_id, recipient) in deleted.tombstones {
            self.0.announce.announce(Notice::Unsent {
                sender: user,
                recipient,
                message_id,
                deleted_at: at.clone(),
            });
        }
        self.tokens_revoked(user, None, Some(revoke_ms));
        Ok(())
    }
}
