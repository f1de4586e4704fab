//! What every handler shares, REST and Socket.IO alike. The module that
//! assembles the server (`app`) builds it; nothing imports `app`.

use std::sync::Arc;

use crate::auth::revocation::Revocations;
use crate::auth::throttle::Throttle;
use crate::auth::token::Tokens;
use crate::chat::Chat;
use crate::config::Config;
use crate::media::Storage;

#[derive(Clone)]
pub struct AppState {
    pub chat: Chat,
    pub tokens: Arc<Tokens>,
    pub revocations: Arc<Revocations>,
    pub throttle: Arc<Throttle>,
    pub config: Arc<Config>,
    pub storage: Storage,
}

impl crate::auth::AuthContext for AppState {
    fn chat(&self) -> &Chat {
        &self.chat
    }
    fn tokens(&self) -> &Tokens {
        &self.tokens
    }
    fn revocations(&self) -> &Revocations {
        &self.revocations
    }
    fn throttle(&self) -> &Throttle {
        &self.throttle
    }
}
