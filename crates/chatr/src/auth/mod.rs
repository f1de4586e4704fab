//! Accounts and credentials: registration, login, tokens, and the extractor
//! that makes a REST handler require a valid bearer token.

pub mod password;
pub mod token;

use axum::{extract::FromRequestParts, http::request::Parts};
use uuid::Uuid;

use crate::chat::{model::UserRecord, profiles::Profile, validate};
use crate::clock;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::NewUser;

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A REST caller whose token is valid and whose account exists.
pub struct AuthUser(pub UserRecord);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let unauthorized = |why: &'static str| Error::Unauthorized(why.into());
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("missing bearer token"))?;
        let token = bearer(header).ok_or_else(|| unauthorized("missing bearer token"))?;
        let id = state
            .tokens
            .verify(token)
            .map_err(|_| unauthorized("invalid or expired token"))?;
        let user = state
            .chat
            .store()
            .user_by_id(id)
            .await?
            .ok_or_else(|| unauthorized("invalid or expired token"))?;
        Ok(AuthUser(user))
    }
}

/// Creates an account; returns it with a fresh token.
pub async fn register(
    state: &AppState,
    email: &str,
    username: &str,
    password: &str,
) -> Result<(String, UserRecord)> {
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
    };
    state
        .chat
        .store()
        .insert_user(&NewUser {
            id: user.id,
            username: &user.username,
            email: &user.email,
            password_hash: &hash,
            created_at: &user.created_at,
        })
        .await?;
    state.chat.profiles.put(
        user.id,
        Profile {
            username: user.username.clone(),
            profile_image: None,
        },
    );
    let token = state.tokens.issue(user.id, &user.username)?;
    Ok((token, user))
}

/// Checks credentials; the same answer for an unknown login and a wrong password.
pub async fn login(state: &AppState, login: &str, password: &str) -> Result<(String, UserRecord)> {
    let found = state.chat.store().user_for_login(login).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = password::verify(password.to_owned(), hash).await?;
    match user {
        Some(user) if ok => {
            let token = state.tokens.issue(user.id, &user.username)?;
            Ok((token, user))
        }
        _ => Err(Error::Unauthorized("invalid login or password".into())),
    }
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
