//! `terapi:runtime/connection`: the connection an invocation runs for.

use crate::bindings::terapi::runtime::connection::{
    self as wit, BasicCredentials, Oauth2Credentials,
};
use crate::connections::{Connection, Credentials};
use crate::sandbox::Sandbox;
use wasmtime::component::{HasSelf, Linker};

/// Grants the connection capability.
pub(crate) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    wit::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |sandbox| sandbox)
}

impl wit::Host for Sandbox {
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
