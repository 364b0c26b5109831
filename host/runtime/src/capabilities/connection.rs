//! `terapi:runtime/connection`: the connection an invocation runs for.

use crate::bindings::connection::{self as wit, BasicCredentials, Oauth2Credentials};
use crate::store::{Connection, Credentials};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// What the connection capability hands out: the guest's view of one connection, shared
/// (the runtime derives it once per stored connection).
pub(crate) struct ConnectionState {
    connection: Arc<wit::Connection>,
}

impl ConnectionState {
    /// The state for an invocation running for `connection`.
    pub(crate) fn new(connection: Arc<wit::Connection>) -> Self {
        ConnectionState { connection }
    }

    /// No connection: what a component is described with.
    pub(crate) fn none_connection() -> Arc<wit::Connection> {
        Arc::new(wit::Connection {
            connection_id: String::new(),
            provider_config_key: String::new(),
            provider: String::new(),
            credentials: wit::Credentials::None,
            connection_config: "{}".into(),
            metadata: "{}".into(),
        })
    }
}

struct HasConnection;

impl HasData for HasConnection {
    type Data<'a> = &'a mut ConnectionState;
}

/// Grants the connection capability; `get` projects a store's data onto its state.
pub(crate) fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ConnectionState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasConnection>(linker, get)
}

impl wit::Host for ConnectionState {
    fn get_connection(&mut self) -> wasmtime::Result<wit::Connection> {
        Ok((*self.connection).clone())
    }
}

/// The guest's view of a stored connection.
pub(crate) fn to_guest(connection: &Connection) -> wit::Connection {
    let credentials = match &connection.credentials {
        Credentials::OAuth2 {
            access_token,
            refresh_token,
            expires_at,
            raw,
            scope: _,
        } => wit::Credentials::Oauth2(Oauth2Credentials {
            access_token: access_token.clone(),
            refresh_token: refresh_token.clone(),
            expires_at: expires_at.clone(),
            raw: raw.to_string(),
        }),
        Credentials::ApiKey { api_key } => wit::Credentials::ApiKey(api_key.clone()),
        Credentials::Basic { username, password } => wit::Credentials::Basic(BasicCredentials {
            username: username.clone(),
            password: password.clone(),
        }),
        Credentials::None => wit::Credentials::None,
    };
    wit::Connection {
        connection_id: connection.connection_id.clone(),
        provider_config_key: connection.provider_config_key.clone(),
        provider: connection.provider.clone(),
        credentials,
        connection_config: connection.connection_config.to_string(),
        metadata: connection.metadata.to_string(),
    }
}
