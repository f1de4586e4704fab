//! The server's VAPID key pair (RFC 8292): browsers subscribe with its
//! public key, and every push carries a JWT signed with its private key.
//! Given as `CHATR_VAPID_PRIVATE_KEY`, or generated once and kept in the
//! data dir beside the JWT secret (a subscription only works with the key
//! it was made for, so the key must outlive restarts).

use std::path::Path;

use axum::http::Uri;
use base64ct::{Base64UrlUnpadded, Encoding};
use web_push_native::jwt_simple::algorithms::{
    ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair,
};
use web_push_native::jwt_simple::claims::Claims;

use crate::error::{Error, Result};

pub const KEY_FILE: &str = "vapid_private_key";

pub struct Vapid {
    pub pair: ES256KeyPair,
    /// The uncompressed P-256 point, base64url: `applicationServerKey`.
    pub public_key: String,
    /// `mailto:` or `https:` contact for the push services.
    pub subject: String,
}

impl Vapid {
    /// `Authorization: vapid t=<JWT>, k=<public key>` for a push to
    /// `endpoint`, valid for `valid` (at most 24 h, RFC 8292). `aud` is the
    /// endpoint's origin, port included when it is not the scheme's default
    /// (web-push-native's own signer leaves the port out).
    pub fn authorization(&self, endpoint: &Uri, valid: std::time::Duration) -> Result<String> {
        let scheme = endpoint.scheme_str().unwrap_or("https");
        let host = endpoint
            .host()
            .ok_or_else(|| Error::internal("a push endpoint without a host"))?;
        let origin = match endpoint.port_u16() {
            Some(port) if !matches!((scheme, port), ("https", 443) | ("http", 80)) => {
                format!("{scheme}://{host}:{port}")
            }
            _ => format!("{scheme}://{host}"),
        };
        let claims = Claims::create(valid.into())
            .with_audience(origin)
            .with_subject(&self.subject);
        let token = self
            .pair
            .sign(claims)
            .map_err(|e| Error::internal(format!("signing a VAPID token: {e}")))?;
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }
}

fn parse(encoded: &str) -> Result<ES256KeyPair> {
    let raw = Base64UrlUnpadded::decode_vec(encoded.trim().trim_end_matches('='))
        .map_err(|_| Error::internal("the VAPID private key is not base64url"))?;
    ES256KeyPair::from_bytes(&raw)
        .map_err(|e| Error::internal(format!("the VAPID private key is not a P-256 key: {e}")))
}

/// The configured key, the kept one, or a new one (kept from then on).
pub fn load(configured: Option<&str>, data_dir: &Path, subject: &str) -> Result<Vapid> {
    if !(subject.starts_with("mailto:") || subject.starts_with("https:")) {
        return Err(Error::internal(
            "CHATR_VAPID_SUBJECT must be a mailto: or https: URL",
        ));
    }
    let pair = match configured {
        Some(key) => parse(key)?,
        None => {
            let path = data_dir.join(KEY_FILE);
            match std::fs::read_to_string(&path) {
                Ok(kept) => parse(&kept)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let pair = ES256KeyPair::generate();
                    let encoded = Base64UrlUnpadded::encode_string(&pair.to_bytes());
                    crate::keyfile::write_private(&path, &encoded)
                        .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))?;
                    tracing::info!(path = %path.display(), "generated a VAPID key pair for Web Push");
                    pair
                }
                Err(e) => {
                    return Err(Error::internal(format!("reading {}: {e}", path.display())));
                }
            }
        }
    };
    let public_key =
        Base64UrlUnpadded::encode_string(&pair.public_key().public_key().to_bytes_uncompressed());
    Ok(Vapid {
        pair,
        public_key,
        subject: subject.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = load(None, dir.path(), "mailto:a@example.com").expect("generated");
        let again = load(None, dir.path(), "mailto:a@example.com").expect("read back");
        assert_eq!(first.public_key, again.public_key);
        // An uncompressed point: 65 bytes, 0x04 first.
        let raw = Base64UrlUnpadded::decode_vec(&first.public_key).expect("base64url");
        assert_eq!((raw.len(), raw[0]), (65, 4));
        let kept = std::fs::read_to_string(dir.path().join(KEY_FILE)).expect("kept");
        let given = load(Some(&kept), dir.path(), "https://example.com").expect("given");
        assert_eq!(given.public_key, first.public_key);
        assert!(
            load(None, dir.path(), "example.com").is_err(),
            "a subject is a URL"
        );
        assert!(load(Some("not a key"), dir.path(), "mailto:a@b").is_err());
    }
}
