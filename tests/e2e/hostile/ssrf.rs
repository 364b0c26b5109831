//! Server-side request forgery: every way of naming a forbidden address — absolute URLs,
//! `base-url-override`, loopback in decimal, hex, octal and short forms, IPv6 and
//! IPv4-mapped IPv6, link-local, userinfo tricks, other schemes, a redirect from an
//! allowed host — is denied before anything is sent. A listener on each forbidden
//! address proves it: none of them sees a connection.

use super::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A loopback listener that counts the connections it accepts.
struct Listener {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Listens on `ip`, or `None` where this machine has no such address (IPv6).
    async fn bind(ip: &str) -> Option<Listener> {
        let listener = match TcpListener::bind((ip, 0)).await {
            Ok(listener) => listener,
            Err(error) => {
                println!("hostile ssrf: no listener on {ip} ({error}); its cases are skipped");
                return None;
            }
        };
        let addr = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((_stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        Some(Listener {
            addr,
            connections,
            task,
        })
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `fetch` inputs that try to reach `v4` (127.0.0.1), `v4b` (127.0.0.2) and `v6`
/// (::1) while the provider is `sim` (`127.0.0.1:port`).
fn forgeries(sim: &str, v4: u16, v4b: u16, v6: Option<u16>) -> Vec<(String, Value)> {
    let endpoint = |url: String| (url.clone(), json!({ "endpoint": url }));
    let over = |base: String| {
        (
            format!("override {base}"),
            json!({ "endpoint": "/v1/account", "base_url_override": base }),
        )
    };
    let mut cases = vec![
        endpoint(format!("http://127.0.0.1:{v4}/x")),
        endpoint(format!("https://127.0.0.1:{v4}/x")),
        endpoint(format!("HTTP://127.0.0.1:{v4}/x")),
        endpoint(format!("http://localhost:{v4}/x")),
        endpoint(format!("http://2130706433:{v4}/decimal")),
        endpoint(format!("http://0x7f000001:{v4}/hex")),
        endpoint(format!("http://0x7f.0.0.1:{v4}/hex-dotted")),
        endpoint(format!("http://0177.0.0.1:{v4}/octal")),
        endpoint(format!("http://127.1:{v4}/short")),
        endpoint(format!("http://127.0.0.1.:{v4}/trailing-dot")),
        endpoint(format!("http://0.0.0.0:{v4}/any")),
        endpoint(format!("http://0:{v4}/zero")),
        endpoint(format!("http://[::ffff:127.0.0.1]:{v4}/v4-mapped")),
        endpoint(format!("http://{sim}@127.0.0.1:{v4}/userinfo")),
        endpoint(format!("http://allowed@127.0.0.1:{v4}/userinfo")),
        endpoint(format!("http://127.0.0.1:{v4}#@{sim}/fragment")),
        endpoint(format!("gopher://127.0.0.1:{v4}/_GET%20/")),
        endpoint(format!("ftp://127.0.0.1:{v4}/")),
        endpoint(format!("dict://127.0.0.1:{v4}/info")),
        endpoint("file:///etc/passwd".into()),
        endpoint(format!("http://127.0.0.2:{v4b}/x")),
        endpoint(format!("http://2130706434:{v4b}/decimal")),
        endpoint(format!("http://{sim}@127.0.0.2:{v4b}/userinfo")),
        endpoint("http://169.254.169.254/latest/meta-data/".into()),
        endpoint("http://[fe80::1]/link-local".into()),
        over(format!("http://127.0.0.1:{v4}")),
        over(format!("http://{sim}@127.0.0.1:{v4}")),
        over(format!("http://2130706433:{v4}")),
        over(format!("http://127.0.0.2:{v4b}")),
        over(format!("gopher://127.0.0.1:{v4}")),
        over("file:///etc".into()),
        over("http://169.254.169.254".into()),
    ];
    if let Some(v6) = v6 {
        cases.extend([
            endpoint(format!("http://[::1]:{v6}/x")),
            endpoint(format!("http://[0:0:0:0:0:0:0:1]:{v6}/long")),
            endpoint(format!("http://localhost:{v6}/x")),
            endpoint(format!("http://{sim}@[::1]:{v6}/userinfo")),
            over(format!("http://[::1]:{v6}")),
        ]);
    }
    cases
}

/// An allow-listed host that redirects every request to `location`.
async fn redirector(location: String) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = vec![0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut request).await;
            let response = format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_to_a_forbidden_address_is_denied_and_no_listener_sees_a_connection() {
    let v4 = Listener::bind("127.0.0.1").await.expect("127.0.0.1");
    let v4b = Listener::bind("127.0.0.2").await.expect("127.0.0.2");
    let v6 = Listener::bind("::1").await;
    let (allowed, redirecting) = redirector(format!("http://127.0.0.2:{}/steal", v4b.port())).await;
    let harness = harness_with(|config| {
        config.limits.http_timeout_ms = 500;
        config
            .integrations
            .get_mut(GUESTS)
            .expect("guests")
            .allowed_hosts = vec![allowed.to_string()];
        with_sandbox_probe(config);
    })
    .await;
    harness
        .connect(
            PROBE,
            CONNECTION,
            terapi_runtime::Credentials::access_token(TOKEN),
        )
        .await;
    let sim = harness
        .sim
        .base_url()
        .trim_start_matches("http://")
        .to_string();
    let cases = forgeries(&sim, v4.port(), v4b.port(), v6.as_ref().map(Listener::port));
    let count = cases.len();
    let probe_input = json!({ "port": v4.port() }).to_string();
    let attacked = during(&harness, move |harness| async move {
        let mut outcomes = Vec::new();
        for (label, input) in cases {
            outcomes.push((label, attack(harness.clone(), "fetch", input).await));
        }
        // An allow-listed host answers with a redirect to a forbidden one.
        let redirected = attack(
            harness.clone(),
            "fetch",
            json!({ "endpoint": format!("http://{allowed}/go") }),
        )
        .await;
        // WASI's own sockets, past the HTTP capability.
        let probed = harness
            .runtime
            .trigger_action(PROBE, CONNECTION, "probe-network", &probe_input)
            .await;
        (outcomes, redirected, probed)
    })
    .await;
    let (outcomes, redirected, probed) = attacked.result;
    for (label, outcome) in &outcomes {
        let error = outcome.as_ref().expect_err(label);
        assert_eq!(http_error(error), "denied", "{label}: {error}");
        assert!(
            error
                .to_string()
                .contains("is not on this integration's allow-list"),
            "{label}: {error}"
        );
    }
    let redirected: Value = redirected
        .expect("the 302 reaches the action")
        .parse()
        .expect("JSON");
    assert_eq!(
        redirected["status"], 302,
        "handed to the action, not followed"
    );
    let probed: Value = probed.expect("the probe runs").parse().expect("JSON");
    for probe in ["tcp_connect", "udp_bind", "name_lookup", "read_passwd"] {
        assert!(
            probed[probe]
                .as_str()
                .unwrap_or_default()
                .starts_with("error"),
            "{probe} must fail: {probed}"
        );
    }
    assert_eq!(v4.connections(), 0, "127.0.0.1 saw a connection");
    assert_eq!(v4b.connections(), 0, "127.0.0.2 saw a connection");
    if let Some(v6) = &v6 {
        assert_eq!(v6.connections(), 0, "::1 saw a connection");
    }
    assert!(harness.sim.requests().is_empty(), "nor did the provider");
    redirecting.abort();
    println!("hostile probe-network: {probed}");
    println!(
        "hostile ssrf: {count} forgeries denied, a redirect not followed, WASI sockets \
         denied; 0 connections on {} listeners; benign echo took {:?}",
        2 + usize::from(v6.is_some()),
        attacked.benign
    );
}
