//! JWTs: HS256 only, claims `{ userId, username, iat, exp }` (contract §2)
//! plus `jti`, the token's own id: a UUIDv7, so it also tells when the token
//! was issued to the millisecond (revocation compares it with a cut-off).

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

pub const MIN_SECRET_BYTES: usize = 32;
const SECRET_FILE: &str = "jwt_secret";

#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(rename = "userId")]
    user_id: String,
    username: String,
    iat: u64,
    exp: u64,
    /// Absent from tokens issued before revocation existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// An operator's token (`chatr admin`), for `/api/admin` only: it names
    /// no user (the nil id), so nothing else accepts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    adm: Option<bool>,
}

/// How long an operator's token lives: one `chatr admin` command.
const OPERATOR_TTL_SECS: u64 = 120;

/// What a valid token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    pub user: Uuid,
    /// The token's id (for a token without one, an id made from its signature).
    pub jti: Uuid,
    /// When it was issued, in milliseconds since the epoch.
    pub issued_ms: i64,
    /// When it expires, in seconds since the epoch.
    pub exp: u64,
    /// An operator's token (see [`Tokens::issue_operator`]).
    pub operator: bool,
}

/// Why a token was refused; shown to the client after "Authentication error: ".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing token")]
    Missing,
    #[error("token expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
    #[error("unknown user")]
    UnknownUser,
    #[error("token revoked")]
    Revoked,
    /// The account could not be checked (database trouble); the client may retry.
    #[error("server unavailable, try again")]
    Unavailable,
}

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Result<Self> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(Error::internal(format!(
                "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
            )));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        })
    }

    pub fn issue(&self, user_id: Uuid, username: &str) -> Result<String> {
        let iat = unix_now();
        self.issue_at(user_id, username, iat, iat + self.ttl_secs)
    }

    /// Signs a token with explicit times (tests use it to make expired tokens).
    pub fn issue_at(&self, user_id: Uuid, username: &str, iat: u64, exp: u64) -> Result<String> {
        let claims = Claims {
            user_id: user_id.to_string(),
            username: username.to_owned(),
            iat,
            exp,
            jti: Some(Uuid::now_v7().to_string()),
            adm: None,
        };
        self.sign(&claims)
    }

    fn sign(&self, claims: &Claims) -> Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::internal(format!("signing failed: {e}")))
    }

    /// A short-lived token for `/api/admin`, made by whoever holds the
    /// secret (`chatr admin` on the server's machine): the same trust as
    /// the secret itself, which can sign any token.
    pub fn issue_operator(&self) -> Result<String> {
        let iat = unix_now();
        self.sign(&Claims {
            user_id: Uuid::nil().to_string(),
            username: "operator".into(),
            iat,
            exp: iat + OPERATOR_TTL_SECS,
            jti: Some(Uuid::now_v7().to_string()),
            adm: Some(true),
        })
    }

    /// What a validly signed, unexpired token says. The caller still checks
    /// revocation and that the user exists.
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let c = data.claims;
        let user = crate::fields::parse_uuid(&c.user_id).ok_or(TokenError::Invalid)?;
        let jti = match c.jti {
            Some(jti) => Uuid::try_parse(&jti).map_err(|_| TokenError::Invalid)?,
            None => legacy_id(token),
        };
        let issued_ms = jti
            .get_timestamp()
            .map(|t| {
                let (secs, nanos) = t.to_unix();
                (secs as i64) * 1000 + i64::from(nanos / 1_000_000)
            })
            .unwrap_or((c.iat as i64).saturating_mul(1000));
        Ok(Verified {
            user,
            jti,
            issued_ms,
            exp: c.exp,
            operator: c.adm == Some(true) && user.is_nil(),
        })
    }
}

/// An id for a token issued without `jti`: its signature's first 16 bytes.
fn legacy_id(token: &str) -> Uuid {
    let signature = token.rsplit('.').next().unwrap_or_default().as_bytes();
    let mut id = [0u8; 16];
    for (i, b) in signature.iter().enumerate() {
        id[i % 16] ^= b.rotate_left((i / 16) as u32);
    }
    Uuid::from_bytes(id)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The configured secret, or the one kept in the data dir (generated on first start).
pub fn load_secret(configured: Option<&str>, data_dir: &Path) -> Result<Vec<u8>> {
    if let Some(secret) = configured {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(Error::internal(format!(
                "JWT_SECRET is {} bytes; it must be at least {MIN_SECRET_BYTES}",
                secret.len()
            )));
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= MIN_SECRET_BYTES => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(Error::internal(format!(
                "{} is too short; delete it to regenerate",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::internal(format!("reading {}: {e}", path.display()))),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    crate::keyfile::write_private(&path, &secret)
        .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), "no JWT_SECRET given: generated one and kept it in the data dir");
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Option<Tokens> {
        Tokens::new(&[7u8; 32], 3600).ok()
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(Tokens::new(&[7u8; 31], 3600).is_err());
        assert!(load_secret(Some("too short"), Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn tokens_round_trip() {
        let t = tokens();
        let id = Uuid::new_v4();
        let token = t.as_ref().and_then(|t| t.issue(id, "bob").ok());
        let verified = t.zip(token).and_then(|(t, tok)| t.verify(&tok).ok());
        assert_eq!(verified.map(|v| v.user), Some(id));
        let now_ms = (unix_now() as i64) * 1000;
        assert!(
            verified.is_some_and(|v| (v.issued_ms - now_ms).abs() < 2000),
            "issued now, to the ms"
        );
    }

    #[test]
    fn expired_tokens_are_refused_as_expired() {
        let t = tokens();
        let tok = t
            .as_ref()
            .and_then(|t| t.issue_at(Uuid::new_v4(), "bob", 1000, 2000).ok());
        assert_eq!(
            t.zip(tok).map(|(t, tok)| t.verify(&tok)),
            Some(Err(TokenError::Expired))
        );
    }

    #[test]
    fn an_operator_token_names_no_user_and_a_user_token_is_no_operator() {
        let t = tokens().expect("tokens");
        let operator = t
            .verify(&t.issue_operator().expect("signed"))
            .expect("valid");
        assert!(operator.operator);
        assert!(operator.user.is_nil());
        let user = t
            .verify(&t.issue(Uuid::new_v4(), "u").expect("signed"))
            .expect("valid");
        assert!(!user.operator);
    }

    #[test]
    fn other_algorithms_are_refused() {
        let t = tokens();
        let claims = Claims {
            user_id: Uuid::new_v4().to_string(),
            username: "x".into(),
            iat: 0,
            exp: u64::MAX / 2,
            jti: None,
            adm: None,
        };
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .ok();
        assert_eq!(
            t.zip(hs512).map(|(t, tok)| t.verify(&tok)),
            Some(Err(TokenError::Invalid))
        );
    }

    #[test]
    fn a_generated_secret_is_kept_across_restarts() {
        let dir = tempfile::tempdir().ok();
        let dir = dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default();
        let first = load_secret(None, &dir).ok();
        let second = load_secret(None, &dir).ok();
        assert!(first.as_ref().is_some_and(|s| s.len() >= MIN_SECRET_BYTES));
        assert_eq!(first, second);
    }
}
