//! The node OAuth providers of the tests (`tests/oauth/*.mjs`), started one per test: each
//! script listens on a free 127.0.0.1 port (port 0) and prints one ready line
//! `{"ready":true,"issuer":…,"port":…}`; [`NodeProvider::start`] waits for that line and then
//! for the port to accept a connection, both bounded by [`START_TIMEOUT`], and the process is
//! killed by pid when the handle is dropped (also when the test fails). The scripts also exit
//! when their stdin closes and after their `--lifetime`.
//!
//! A test that needs node and cannot run it fails with a message naming the fix; it never
//! passes silently.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncBufReadExt as _;

/// Bounds the wait for a provider to come up (its ready line, then its port).
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The folder of the scripts and of their npm packages.
pub const OAUTH_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oauth");

/// Installs the npm packages of `tests/oauth` from the committed lock file, unless `package`
/// is already there.
pub fn install_node_packages(package: &str) {
    // One install at a time in this binary; each later call finds the package there.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let installed = Path::new(OAUTH_DIR)
        .join("node_modules")
        .join(package)
        .join("package.json");
    if installed.exists() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(OAUTH_DIR)
        .status()
        .expect("these tests need npm and Node.js >= 20.19 (npm was not found)");
    assert!(
        status.success(),
        "`npm ci` in tests/oauth failed: run it by hand to see why"
    );
}

/// A running node provider. See the [module docs](self).
pub struct NodeProvider {
    /// The issuer URL it printed (`http://127.0.0.1:<port>`).
    pub issuer: String,
    /// The port it listens on.
    pub port: u16,
    /// Its whole ready line.
    pub ready: Value,
    child: tokio::process::Child,
}

impl NodeProvider {
    /// Starts `node tests/oauth/<script> <args>`, after installing the npm packages if
    /// `package` is missing. `quiet` sends its stderr to nowhere (oidc-provider warns a lot);
    /// else it goes to the test's stderr.
    pub async fn start(script: &str, package: &str, args: &[&str], quiet: bool) -> Self {
        install_node_packages(package);
        let mut child = tokio::process::Command::new("node")
            .arg(Path::new(OAUTH_DIR).join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("these tests need Node.js >= 20.19 on PATH; `node` could not start ({e})")
            });
        let stdout = child.stdout.take().expect("the provider's stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let started = Instant::now();
        let line = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{script} did not start within {START_TIMEOUT:?}"))
            .expect("read the provider's stdout")
            .unwrap_or_else(|| panic!("{script} exited before it was ready"));
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("{script} printed no ready line: {line}"));
        // Keep reading its stdout until it ends, so that a later write cannot fail with EPIPE
        // and take the provider down.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        let port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("port");
        let provider = Self {
            issuer,
            port,
            ready,
            child,
        };
        provider.wait_until_it_answers(script, started).await;
        provider
    }

    /// Waits until the port accepts a connection: at most 200 tries, within the start timeout.
    async fn wait_until_it_answers(&self, script: &str, started: Instant) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            if started.elapsed() > START_TIMEOUT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{script} on 127.0.0.1:{} did not accept a connection within {START_TIMEOUT:?}",
            self.port
        );
    }

    /// `issuer` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Stops the provider now (the "provider down" cases) and waits for it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

impl Drop for NodeProvider {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SIGKILL by pid; `kill_on_drop` is the second line of defence.
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        let _ = self.child.start_kill();
    }
}
