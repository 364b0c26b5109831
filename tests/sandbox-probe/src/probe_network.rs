use serde::{Deserialize, Serialize};
use terapi_sdk::ActionError;
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;
use wasip2::sockets::udp_create_socket::create_udp_socket;

#[derive(Deserialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Input {
    /// A port on 127.0.0.1 to try to reach with WASI's own sockets, past the host's HTTP
    /// capability.
    port: u16,
}

#[derive(Serialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Output {
    /// What connecting over TCP gave.
    tcp_connect: String,
    /// What binding a UDP socket gave.
    udp_bind: String,
    /// What resolving `localhost` gave.
    name_lookup: String,
    /// What reading a host file gave.
    read_passwd: String,
}

fn loopback(port: u16) -> IpSocketAddress {
    IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (127, 0, 0, 1),
    })
}

fn tcp_connect(port: u16) -> String {
    let network = instance_network();
    let socket = match create_tcp_socket(IpAddressFamily::Ipv4) {
        Ok(socket) => socket,
        Err(error) => return format!("error: {error:?}"),
    };
    if let Err(error) = socket.start_connect(&network, loopback(port)) {
        return format!("error: {error:?}");
    }
    socket.subscribe().block();
    match socket.finish_connect() {
        Ok(_) => "ok".into(),
        Err(error) => format!("error: {error:?}"),
    }
}

fn udp_bind() -> String {
    let network = instance_network();
    let socket = match create_udp_socket(IpAddressFamily::Ipv4) {
        Ok(socket) => socket,
        Err(error) => return format!("error: {error:?}"),
    };
    if let Err(error) = socket.start_bind(&network, loopback(0)) {
        return format!("error: {error:?}");
    }
    socket.subscribe().block();
    match socket.finish_bind() {
        Ok(()) => "ok".into(),
        Err(error) => format!("error: {error:?}"),
    }
}

fn name_lookup() -> String {
    match resolve_addresses(&instance_network(), "localhost") {
        Ok(stream) => {
            stream.subscribe().block();
            match stream.resolve_next_address() {
                Ok(address) => format!("ok: {address:?}"),
                Err(error) => format!("error: {error:?}"),
            }
        }
        Err(error) => format!("error: {error:?}"),
    }
}

/// Tries WASI's sockets (TCP connect, UDP bind, name lookup) and a host file; the
/// sandbox must deny them all.
pub fn run(input: Input) -> Result<Output, ActionError> {
    Ok(Output {
        tcp_connect: tcp_connect(input.port),
        udp_bind: udp_bind(),
        name_lookup: name_lookup(),
        read_passwd: match std::fs::read("/etc/passwd") {
            Ok(_) => "ok".into(),
            Err(error) => format!("error: {error}"),
        },
    })
}
