//! Accounts and credentials: registration, login, tokens, and the extractor
//! that makes a REST handler require a valid bearer token.

pub mod password;
pub mod revocation;
pub mod throttle;
pub mod token;

use std::net::IpAddr;

use axum::{extract::FromRequestParts, http::request::Parts};
use uuid::Uuid;

use crate::chat::{Chat, profiles::Profile, validate};
use crate::clock;
use crate::error::{Error, Result};
use crate::model::UserRecord;
use crate::store::NewUser;
use revocation::Revocations;
use throttle::Throttle;
use token::{Tokens, Verified};

/// What the extractors and the account functions below need of the
/// server's shared state, which implements it (`crate::state`): so this
/// module does not import the state that is built from it.
pub trait AuthContext: Send + Sync {
    fn chat(&self) -> &Chat;
    fn tokens(&self) -> &Tokens;
    fn revocations(&self) -> &Revocations;
    fn throttle(&self) -> &Throttle;
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A REST caller's valid, unrevoked token (the account may be gone).
pub struct Bearer(pub Verified);

impl<S: AuthContext> FromRequestParts<S> for Bearer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let unauthorized = |why: &'static str| Error::Unauthorized(why.into());
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("missing bearer token"))?;
        let token = bearer(header).ok_or_else(|| unauthorized("missing bearer token"))?;
        let verified = state
            .tokens()
            .verify(token)
            .map_err(|_| unauthorized("invalid or expired token"))?;
        state
            .revocations()
            .check(&verified)
            .map_err(|_| unauthorized("token revoked"))?;
        Ok(Bearer(verified))
    }
}

/// A REST caller whose token is valid and unrevoked and whose account exists.
pub struct AuthUser(pub UserRecord);

impl<S: AuthContext> FromRequestParts<S> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let AuthSession(user, _) = AuthSession::from_request_parts(parts, state).await?;
        Ok(AuthUser(user))
    }
}

/// An [`AuthUser`] with the token it came with, for what belongs to the
/// session (push subscriptions).
pub struct AuthSession(pub UserRecord, pub Verified);

impl<S: AuthContext> FromRequestParts<S> for AuthSession {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let Bearer(token) = Bearer::from_request_parts(parts, state).await?;
        admit_call(state, token.user).await?;
        let user = state
            .chat()
            .store()
            .user_by_id(token.user)
            .await?
            .ok_or_else(|| Error::Unauthorized("invalid or expired token".into()))?;
        Ok(AuthSession(user, token))
    }
}

/// One REST call of an authenticated caller's budget (`429` beyond it).
pub async fn admit_call(state: &impl AuthContext, user: Uuid) -> Result<()> {
    state
        .chat()
        .sessions
        .limiter()
        .check(user, crate::chat::limits::Action::Api)
        .await
}

/// Creates an account; returns it with a fresh token. Registrations are
/// throttled per client address.
pub async fn register(
    state: &impl AuthContext,
    addr: IpAddr,
    email: &str,
    username: &str,
    password: &str,
) -> Result<(String, UserRecord)> {
    validate::username(username)?;
    validate::email(email)?;
    validate::password(password)?;
    state.throttle().register(addr).await?;
    let user = create_account(state, email, username, password).await?;
    let token = state.tokens().issue(user.id, &user.username)?;
    Ok((token, user))
}

/// Creates an account that follows the contract's rules (registration, or
/// an operator; the caller validated and throttled).
pub async fn create_account(
    state: &impl AuthContext,
    email: &str,
    username: &str,
    password: &str,
) -> Result<UserRecord> {
    validate::username(username)?;
    validate::email(email)?;
    validate::password(password)?;
    let hash = password::hash(password.to_owned()).await?;
    let user = UserRecord {
        id: Uuid::new_v4(),
        username: username.to_owned(),
        email: email.to_owned(),
        profile_image: None,
        last_seen: None,
        created_at: clock::now(),
        presence_visibility: crate::model::Visibility::Everyone,
    };
    state
        .chat()
        .store()
        .insert_user(&NewUser {
            id: user.id,
            username: &user.username,
            email: &user.email,
            password_hash: &hash,
            created_at: &user.created_at,
        })
        .await?;
    state.chat().profiles.put(
        user.id,
        Profile {
            username: user.username.clone(),
            profile_image: None,
        },
    );
    Ok(user)
}

/// Checks credentials; the same answer for an unknown login and a wrong
/// password. Failures are throttled per account and address, and per address.
pub async fn login(
    state: &impl AuthContext,
    addr: IpAddr,
    login: &str,
    password: &str,
) -> Result<(String, UserRecord)> {
    state.throttle().admit_login(login, addr).await?;
    let found = state.chat().store().user_for_login(login).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = password::verify(password.to_owned(), hash).await?;
    match user {
        Some(user) if ok => {
            // Only the right password learns that the account is disabled.
            if let Some((_, true)) = state.chat().store().account_state(user.id).await? {
                return Err(Error::forbidden("this account is disabled"));
            }
            let token = state.tokens().issue(user.id, &user.username)?;
            Ok((token, user))
        }
        _ => {
            state.throttle().failed_login(login, addr).await;
            Err(Error::Unauthorized("invalid login or password".into()))
        }
    }
}

/// `POST /api/auth/logout`: this token stops working, on every node.
pub async fn logout(state: &impl AuthContext, token: &Verified) -> Result<()> {
    let exp = i64::try_from(token.exp).unwrap_or(i64::MAX);
    state
        .chat()
        .store()
        .revoke_token(token.jti, token.user, exp)
        .await?;
    state.revocations().revoke(token.jti, exp);
    state
        .chat()
        .accounts
        .tokens_revoked(token.user, Some((token.jti, exp)), None);
    // The session's browsers are not to be woken for this user any more.
    state
        .chat()
        .store()
        .remove_token_subscriptions(token.jti)
        .await?;
    Ok(())
}

/// Every token of `user` issued until now stops working, on every node.
pub async fn revoke_all(state: &impl AuthContext, user: Uuid) -> Result<i64> {
    let at = revocation::now_ms();
    state
        .chat()
        .store()
        .set_tokens_valid_after(user, at)
        .await?;
    state.revocations().cut_off(user, at);
    state.chat().accounts.tokens_revoked(user, None, Some(at));
    state.chat().store().remove_user_subscriptions(user).await?;
    Ok(at)
}

/// `POST /api/auth/password`: checks the current password (throttled like a
/// login), stores the new one, revokes every token and returns a new one.
pub async fn change_password(
    state: &impl AuthContext,
    addr: IpAddr,
    user: &UserRecord,
    current: &str,
    new: &str,
) -> Result<String> {
    state.throttle().admit_login(&user.username, addr).await?;
    let stored = state.chat().store().password_hash(user.id).await?;
    if !password::verify(current.to_owned(), stored).await? {
        state.throttle().failed_login(&user.username, addr).await;
        return Err(Error::Unauthorized("the current password is wrong".into()));
    }
    validate::password(new).map_err(|_| {
        Error::invalid_field(
            "newPassword",
            "the new password needs at least 8 characters, an uppercase letter and a digit or special character",
        )
    })?;
    let hash = password::hash(new.to_owned()).await?;
    state
        .chat()
        .store()
        .set_password_hash(user.id, &hash)
        .await?;
    let cutoff = revoke_all(state, user.id).await?;
    // The new token must be issued after the cut-off, to the millisecond.
    while revocation::now_ms() <= cutoff {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    state.tokens().issue(user.id, &user.username)
}

/// `DELETE /api/users/me`: checks the password (throttled like a login),
/// then deletes the account and revokes every token it ever had.
pub async fn delete_account(
    state: &impl AuthContext,
    addr: IpAddr,
    user: &UserRecord,
    password: &str,
) -> Result<()> {
    state.throttle().admit_login(&user.username, addr).await?;
    let stored = state.chat().store().password_hash(user.id).await?;
    if !password::verify(password.to_owned(), stored).await? {
        state.throttle().failed_login(&user.username, addr).await;
        return Err(Error::Unauthorized("the password is wrong".into()));
    }
    state.revocations().cut_off(user.id, i64::MAX);
    state.chat().accounts.delete(user.id, i64::MAX).await
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
