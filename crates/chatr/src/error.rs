//! The one error type of the domain, mapped once to an HTTP response and once
//! to a `message:error` code. Internal causes are logged, never shown.

use std::borrow::Cow;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request or event is malformed; `field` names the culprit when there is one.
    #[error("{message}")]
    Invalid {
        message: Cow<'static, str>,
        field: Option<&'static str>,
    },
    #[error("{0}")]
    Unauthorized(Cow<'static, str>),
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    #[error("{0}")]
    NotFound(Cow<'static, str>),
    #[error("{message}")]
    Conflict {
        message: Cow<'static, str>,
        field: Option<&'static str>,
    },
    /// Too many of something a client may repeat; try again after this many seconds.
    #[error("too many requests, slow down")]
    RateLimited { retry_after: u64 },
    #[error("{0}")]
    TooLarge(Cow<'static, str>),
    #[error("database unavailable")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(Cow<'static, str>),
}

impl Error {
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid {
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_field(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid {
            message: message.into(),
            field: Some(field),
        }
    }

    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::NotFound(message.into())
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(message.into())
    }

    /// Throttled for `wait` (rounded up to whole seconds, at least one).
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        Self::RateLimited {
            retry_after: (wait.as_secs_f64().ceil() as u64).max(1),
        }
    }

    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Internal(message.into())
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `code` of a `message:error` event (contract §4).
    pub fn event_code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } | Self::Conflict { .. } | Self::TooLarge(_) => "invalid_payload",
            Self::Unauthorized(_) | Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::Database(_) | Self::Internal(_) => "internal",
        }
    }

    /// The text a client may see: internal causes stay in the log.
    pub fn public_message(&self) -> Cow<'static, str> {
        match self {
            Self::Database(_) | Self::Internal(_) => Cow::Borrowed("internal server error"),
            other => Cow::Owned(other.to_string()),
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } | Self::Conflict { field, .. } => *field,
            _ => None,
        }
    }

    /// Logs server-side failures once, where they are turned into a reply,
    /// and counts every refusal by its code (`/metrics`).
    pub fn log_if_internal(&self) {
        metrics::counter!(crate::telemetry::REFUSED, "code" => self.event_code()).increment(1);
        if matches!(self, Self::Database(_)) {
            metrics::counter!(crate::telemetry::DATABASE_ERRORS).increment(1);
        }
        match self {
            Self::Database(cause) => tracing::error!(error = %cause, "request failed: database"),
            Self::Internal(_) => tracing::error!(error = %self, "request failed"),
            _ => {}
        }
    }

    /// Whether the database reported a unique-constraint violation.
    pub fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
    }
}

/// Every failed request's body (contract §3).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// What went wrong, for a person.
    error: &'a str,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let message = self.public_message();
        let body = ErrorBody {
            error: &message,
            field: self.field(),
        };
        let mut response = (self.status_code(), axum::Json(body)).into_response();
        if let Self::RateLimited { retry_after } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_a_contract_event_code() {
        let codes = [
            "invalid_payload",
            "not_found",
            "forbidden",
            "rate_limited",
            "internal",
        ];
        for err in [
            Error::invalid("x"),
            Error::not_found("x"),
            Error::forbidden("x"),
            Error::Unauthorized("x".into()),
            Error::Conflict {
                message: "x".into(),
                field: None,
            },
            Error::RateLimited { retry_after: 1 },
            Error::TooLarge("x".into()),
            Error::internal("x"),
        ] {
            assert!(codes.contains(&err.event_code()), "{err:?}");
        }
    }

    #[test]
    fn a_throttle_says_when_to_come_back_in_whole_seconds() {
        use std::time::Duration;
        let after = |d| match Error::rate_limited(d) {
            Error::RateLimited { retry_after } => retry_after,
            _ => 0,
        };
        assert_eq!(after(Duration::from_millis(1)), 1);
        assert_eq!(after(Duration::from_millis(2500)), 3);
        assert_eq!(after(Duration::from_secs(2)), 2);
        assert_eq!(after(Duration::ZERO), 1);
    }

    #[test]
    fn internal_causes_are_not_shown_to_clients() {
        let err = Error::internal("disk on fire at /var/lib/x");
        assert_eq!(err.public_message(), "internal server error");
    }
}
