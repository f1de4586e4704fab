//! Chatr: a self-hosted real-time 1:1 messaging server.
//! See `docs/architecture.md` for how the modules fit together.

pub mod app;
pub mod auth;
pub mod backup;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod fields;
pub mod http;
pub mod keyfile;
pub mod media;
pub mod model;
pub mod operator;
pub mod otel;
pub mod protocol;
pub mod proxies;
pub mod push;
pub mod realtime;
pub mod serve;
pub mod state;
pub mod store;
pub mod telemetry;

pub use app::{Running, start};
pub use config::Config;
pub use state::AppState;
