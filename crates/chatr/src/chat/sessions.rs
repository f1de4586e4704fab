//! Sessions and presence: who is connected (on this node and, with several
//! nodes, in the cluster), what they chose to show, the typing and recording
//! indicators, and how users look to each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use uuid::Uuid;

use super::limits::{Action, Limiter};
use super::notice::{Announcer, Indicator, Notice};
use super::presence::PresenceRegistry;
use super::profiles::Profiles;
use super::relations::Relations;
use super::roster::Roster;
use crate::clock;
use crate::error::{Error, Result};
use crate::model::{Presence, PresenceStatus, User, UserRecord, Visibility};
use crate::store::Store;
use std::collections::HashSet;

#[derive(Clone)]
pub struct Sessions(Arc<Inner>);

struct Inner {
    store: Store,
    profiles: Arc<Profiles>,
    announce: Announcer,
    limiter: Limiter,
    presence: PresenceRegistry,
    /// Cluster-wide presence, with several nodes.
    roster: Option<Arc<Roster>>,
    /// Serialises one user's presence transitions on this node, so that the
    /// node's own first/last session reaches the roster in order.
    transitions: Vec<tokio::sync::Mutex<()>>,
    /// Sessions started and not yet fully ended (their lastSeen written).
    open: AtomicUsize,
    /// Sessions per user admitted on this node (see [`Sessions::admit`]).
    admitted: std::sync::Mutex<std::collections::HashMap<Uuid, u32>>,
    /// Sessions one user may have at once, in the whole cluster.
    max_per_user: u32,
    relations: Relations,
}

/// When Redis does not answer, a node acts on its own view of a transition.
fn alone_if_unknown(cluster: Result<bool>) -> bool {
    cluster.unwrap_or_else(|e| {
        {
            metrics::counter!(crate::telemetry::REDIS_ERRORS).increment(1);
            tracing::warn!(error = %e, "cluster presence unavailable");
        }
        true
    })
}

/// A user as `viewer` sees them: `email` and `presenceVisibility` only in
/// one's own record; `lastSeen` now while visibly online, the stored one
/// while offline, and null for a viewer outside the user's audience.
fn view(user: UserRecord, viewer: Uuid, online: bool, sees: bool, now: &str) -> User {
    let own = user.id == viewer;
    User {
        id: user.id,
        username: user.username,
        email: own.then_some(user.email),
        profile_image: user.profile_image,
        last_seen: match (sees, online) {
            (false, _) => None,
            (true, true) => Some(now.to_owned()),
            (true, false) => user.last_seen,
        },
        created_at: user.created_at,
        presence_visibility: own.then_some(user.presence_visibility),
    }
}

impl Sessions {
    pub fn new(
        store: Store,
        profiles: Arc<Profiles>,
        announce: Announcer,
        limiter: Limiter,
        roster: Option<Arc<Roster>>,
        max_per_user: u32,
        relations: Relations,
    ) -> Self {
        Self(Arc::new(Inner {
            admitted: std::sync::Mutex::default(),
            max_per_user,
            relations,
            store,
            profiles,
            announce,
            limiter,
            presence: PresenceRegistry::default(),
            roster,
            transitions: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
            open: AtomicUsize::new(0),
        }))
    }

    fn transition_lock(&self, user: Uuid) -> &tokio::sync::Mutex<()> {
        let shard = (user.as_u128() % self.0.transitions.len() as u128) as usize;
        &self.0.transitions[shard]
    }

    /// Users as `viewer` may see them (see [`view`]), online anywhere in the cluster.
    pub async fn user_views(&self, users: Vec<UserRecord>, viewer: Uuid) -> Result<Vec<User>> {
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let visible = self.visible(&ids).await;
        let audience = self.audience(viewer, &users).await?;
        let now = clock::now();
        Ok(users
            .into_iter()
            .zip(visible)
            .zip(audience)
            .map(|((user, shown), sees)| view(user, viewer, shown.is_some(), sees, &now))
            .collect())
    }

    pub async fn user_view(&self, user: UserRecord, viewer: Uuid) -> Result<User> {
        let mut views = self.user_views(vec![user], viewer).await?;
        views
            .pop()
            .ok_or_else(|| Error::internal("a view went missing"))
    }

    /// For each of `users`, whether `viewer` sees their presence.
    async fn audience(&self, viewer: Uuid, users: &[UserRecord]) -> Result<Vec<bool>> {
        let graph = self.0.relations.graph();
        let needs_contacts = users
            .iter()
            .any(|u| u.id != viewer && u.presence_visibility == Visibility::Contacts);
        let contacts: HashSet<Uuid> = if needs_contacts {
            self.0
                .relations
                .contacts_of(viewer)
                .await?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        Ok(users
            .iter()
            .map(|u| {
                viewer == u.id
                    || (!graph.blocked_between(viewer, u.id)
                        && u.presence_visibility.shows_to(contacts.contains(&u.id)))
            })
            .collect())
    }

    /// Users with a session on this node.
    pub fn online_here(&self) -> usize {
        self.0.presence.connected_users()
    }

    /// Whether `user` has a session on this node.
    pub fn connected_here(&self, user: Uuid) -> bool {
        self.0.presence.is_connected(user)
    }

    /// Whether `user` has a session anywhere in the cluster. Should Redis
    /// not answer, the answer is no: a push too many beats a message missed.
    pub async fn connected_anywhere(&self, user: Uuid) -> bool {
        if self.connected_here(user) {
            return true;
        }
        match &self.0.roster {
            None => false,
            Some(roster) => match roster.online(&[user]).await {
                Ok(online) => online.first().copied().unwrap_or(false),
                Err(e) => {
                    metrics::counter!(crate::telemetry::REDIS_ERRORS).increment(1);
                    tracing::warn!(error = %e, "cluster presence unavailable");
                    false
                }
            },
        }
    }

    /// Whether Redis answers; `None` on a lone node, which has none.
    pub async fn redis_ok(&self) -> Option<bool> {
        match &self.0.roster {
            Some(roster) => Some(roster.ping().await),
            None => None,
        }
    }

    /// The status each of `ids` shows, `None` for offline: this node's view,
    /// or the cluster's. Should Redis not answer, this node's view stands in.
    async fn visible(&self, ids: &[Uuid]) -> Vec<Option<PresenceStatus>> {
        if let Some(roster) = &self.0.roster {
            match tokio::try_join!(roster.online(ids), roster.chosen(ids)) {
                Ok((online, chosen)) => {
                    return online
                        .into_iter()
                        .zip(chosen)
                        .map(|(on, chosen)| {
                            (on && chosen != PresenceStatus::Offline).then_some(chosen)
                        })
                        .collect();
                }
                Err(e) => {
                    metrics::counter!(crate::telemetry::REDIS_ERRORS).increment(1);
                    tracing::warn!(error = %e, "cluster presence unavailable")
                }
            }
        }
        ids.iter()
            .map(|id| self.0.presence.visible_status(*id))
            .collect()
    }

    /// Whether `user` is a known account (the profile cache, else the store).
    pub async fn exists(&self, user: Uuid) -> Result<bool> {
        Ok(self.0.profiles.get(&self.0.store, user).await?.is_some())
    }

    /// `typing:*` and `recording:*`.
    pub async fn indicator(
        &self,
        actor: Uuid,
        recipient: Uuid,
        kind: Indicator,
        on: bool,
    ) -> Result<()> {
        self.0.limiter.check(actor, Action::Indicator).await?;
        if recipient == actor {
            return Err(Error::invalid_field(
                "recipientId",
                "recipientId must be another user",
            ));
        }
        if !self.exists(recipient).await? {
            return Err(Error::not_found("recipient not found"));
        }
        self.0
            .relations
            .graph()
            .check_not_blocked(actor, recipient)?;
        self.0.announce.announce(Notice::Indicator {
            kind,
            from: actor,
            to: recipient,
            on,
        });
        Ok(())
    }

    /// Clears an indicator left on by a session that went away (no limits, no checks).
    pub fn clear_indicator(&self, actor: Uuid, recipient: Uuid, kind: Indicator) {
        self.0.announce.announce(Notice::Indicator {
            kind,
            from: actor,
            to: recipient,
            on: false,
        });
    }

    /// Counts a session that passed authentication, before the client learns
    /// it is connected, so that a session closing at the same moment cannot
    /// make the user look offline. Must be paired with [`Sessions::ended`].
    pub async fn opened(&self, user: Uuid) {
        self.0.open.fetch_add(1, Ordering::SeqCst);
        let first = {
            let _order = self.transition_lock(user).lock().await;
            self.0.presence.connect(user) && self.cluster_arrived(user).await
        };
        if first {
            self.announce_presence(Presence {
                user_id: user,
                status: PresenceStatus::Online,
                last_seen: Some(clock::now()),
            });
        }
    }

    /// Tells a user's followers; nothing at all for a user who shows nobody.
    fn announce_presence(&self, presence: Presence) {
        if self.0.relations.graph().visibility(presence.user_id) != Visibility::Nobody {
            self.0.announce.announce(Notice::Presence(presence));
        }
    }

    fn admitted(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, u32>> {
        self.0.admitted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves a session for `user` before it is set up: refused when the
    /// user already has the most sessions allowed, on this node or (with
    /// several nodes) in the cluster. Every admitted session is later
    /// [`released`](Self::release) (by [`Sessions::ended`] once it opened).
    pub async fn admit(&self, user: Uuid) -> Result<()> {
        let too_many = || Error::Forbidden("Too many sessions".into());
        {
            let mut admitted = self.admitted();
            let n = admitted.entry(user).or_insert(0);
            if *n >= self.0.max_per_user {
                return Err(too_many());
            }
            *n += 1;
        }
        if let Some(roster) = &self.0.roster {
            match roster.admit(user, self.0.max_per_user).await {
                Ok(true) => {}
                Ok(false) => {
                    self.release_local(user);
                    return Err(too_many());
                }
                // Without Redis, this node's own count still holds.
                Err(e) => {
                    metrics::counter!(crate::telemetry::REDIS_ERRORS).increment(1);
                    tracing::warn!(error = %e, "cluster session count unavailable")
                }
            }
        }
        Ok(())
    }

    fn release_local(&self, user: Uuid) {
        let mut admitted = self.admitted();
        if let Some(n) = admitted.get_mut(&user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                admitted.remove(&user);
            }
        }
    }

    /// Gives back an admitted session that will not open after all.
    pub async fn release(&self, user: Uuid) {
        self.release_local(user);
        if let Some(roster) = &self.0.roster
            && let Err(e) = roster.release(user).await
        {
            {
                metrics::counter!(crate::telemetry::REDIS_ERRORS).increment(1);
                tracing::warn!(error = %e, "cluster session count unavailable");
            }
        }
    }

    /// After this node's first session of `user`: whether it is the cluster's first.
    async fn cluster_arrived(&self, user: Uuid) -> bool {
        match &self.0.roster {
            Some(roster) => alone_if_unknown(roster.arrived(user).await),
            None => true,
        }
    }

    /// After this node's last session of `user`: whether it was the cluster's last.
    async fn cluster_left(&self, user: Uuid) -> bool {
        match &self.0.roster {
            Some(roster) => alone_if_unknown(roster.left(user).await),
            None => true,
        }
    }

    /// A session closed: on the user's last one, write `lastSeen` and announce `offline`.
    pub async fn ended(&self, user: Uuid) {
        self.release(user).await;
        let last = {
            let _order = self.transition_lock(user).lock().await;
            self.0.presence.disconnect(user) && self.cluster_left(user).await
        };
        if last {
            self.announce_gone(user, clock::now()).await;
        }
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }

    /// Writes `lastSeen` and tells the user's followers they went offline,
    /// unless they came back meanwhile.
    async fn announce_gone(&self, user: Uuid, at: String) {
        if let Err(e) = self.0.store.writer().set_last_seen(user, at.clone()).await {
            tracing::error!(error = %e, "writing lastSeen");
        }
        if self
            .visible(&[user])
            .await
            .first()
            .copied()
            .flatten()
            .is_some()
            || self.0.presence.is_connected(user)
        {
            return;
        }
        self.announce_presence(Presence {
            user_id: user,
            status: PresenceStatus::Offline,
            last_seen: Some(at),
        });
    }

    /// Refreshes this node's lease and reaps nodes that died; a no-op alone.
    pub async fn cluster_tick(&self) {
        let Some(roster) = &self.0.roster else { return };
        if let Err(e) = roster.heartbeat().await {
            tracing::warn!(error = %e, "refreshing this node's lease");
        }
        match roster.reap().await {
            Ok(departed) => {
                for gone in departed {
                    self.announce_gone(gone.user, gone.last_seen).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reaping dead nodes"),
        }
    }

    /// Leaves the cluster at a graceful stop.
    pub async fn retire(&self) {
        if let Some(roster) = &self.0.roster {
            roster.retire().await;
        }
    }

    /// Waits (at most `limit`) until every session has finished ending.
    pub async fn drained(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.0.open.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `presence:update`.
    pub async fn choose(&self, user: Uuid, status: PresenceStatus) -> Result<()> {
        self.0.limiter.check(user, Action::Presence).await?;
        let changed = self.0.presence.choose(user, status);
        let changed = match &self.0.roster {
            Some(roster) => roster.choose(user, status).await?,
            None => changed,
        };
        if !changed {
            return Ok(());
        }
        let at = clock::now();
        if status == PresenceStatus::Offline {
            self.0
                .store
                .writer()
                .set_last_seen(user, at.clone())
                .await?;
        }
        self.announce_presence(Presence {
            user_id: user,
            status,
            last_seen: Some(at),
        });
        Ok(())
    }

    /// The presence `user` shows to those who may see it now.
    pub async fn current(&self, user: Uuid) -> Result<Presence> {
        let shown = self.visible(&[user]).await.first().copied().flatten();
        Ok(match shown {
            Some(status) => Presence {
                user_id: user,
                status,
                last_seen: Some(clock::now()),
            },
            None => Presence {
                user_id: user,
                status: PresenceStatus::Offline,
                last_seen: self
                    .0
                    .store
                    .last_seen_of(&[user])
                    .await?
                    .remove(&user)
                    .flatten(),
            },
        })
    }

    /// `presence:request` by `viewer`: the presence of each id (unknown ids,
    /// and users who do not show it to the viewer: offline, no lastSeen), and
    /// the ids whose presence the viewer may follow.
    pub async fn presence_of(
        &self,
        viewer: Uuid,
        ids: &[Uuid],
    ) -> Result<(Vec<Presence>, Vec<Uuid>)> {
        self.0
            .limiter
            .check(viewer, Action::PresenceRequest)
            .await?;
        let known = self.0.store.last_seen_of(ids).await?;
        let visible = self.visible(ids).await;
        let graph = self.0.relations.graph();
        let needs_contacts = ids
            .iter()
            .any(|id| graph.visibility(*id) == Visibility::Contacts);
        let contacts: HashSet<Uuid> = if needs_contacts {
            self.0
                .relations
                .contacts_of(viewer)
                .await?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        let now = clock::now();
        let mut statuses = Vec::with_capacity(ids.len());
        let mut users = Vec::with_capacity(known.len());
        let hidden = |id: Uuid| Presence {
            user_id: id,
            status: PresenceStatus::Offline,
            last_seen: None,
        };
        for (id, shown) in ids.iter().zip(visible) {
            let presence = match known.get(id) {
                None => hidden(*id),
                Some(_) if !graph.sees(viewer, *id, contacts.contains(id)) => hidden(*id),
                Some(last_seen) => {
                    users.push(*id);
                    match shown {
                        Some(status) => Presence {
                            user_id: *id,
                            status,
                            last_seen: Some(now.clone()),
                        },
                        None => Presence {
                            user_id: *id,
                            status: PresenceStatus::Offline,
                            last_seen: last_seen.clone(),
                        },
                    }
                }
            };
            statuses.push(presence);
        }
        Ok((statuses, users))
    }

    pub fn limiter(&self) -> &Limiter {
        &self.0.limiter
    }
}
