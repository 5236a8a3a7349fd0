//! A command-line client that signs in, keeps its tokens in a file, and calls a protected API.
//!
//! It signs in with the device flow (open a URL on any device, type the code), or with
//! `--browser` through the browser and a loopback redirect (PKCE); stores the token set in a
//! file with mode 0600; then calls the API through `ApiClient`, which refreshes the token
//! before it expires (the refresh token is rotated and the file updated) and retries once after
//! an `invalid_token` answer. A stored set for another provider, client or scope is discarded.
//!
//! Try it against the test provider (oidc-provider, from `tests/oauth/`), whose userinfo
//! endpoint `/me` serves as the protected API:
//!
//! ```text
//! npm ci --prefix tests/oauth --ignore-scripts --no-audit --no-fund
//! node tests/oauth/oidc-client-provider.mjs --port 4455 --lifetime 0 &
//!
//! # Device flow: open the printed URL, type the code, sign in as tester /
//! # "correct horse battery staple".
//! cargo run --example client --features client -- \
//!     --issuer http://127.0.0.1:4455 --client-id device-cli --api http://127.0.0.1:4455/me
//!
//! # Browser flow (loopback redirect):
//! cargo run --example client --features client -- --browser \
//!     --issuer http://127.0.0.1:4455 --client-id browser-cli --api http://127.0.0.1:4455/me
//!
//! # Again: no sign-in, the stored tokens are used (and refreshed when needed).
//! # Sign out: revoke the tokens and delete the file.
//! cargo run --example client --features client -- --sign-out \
//!     --issuer http://127.0.0.1:4455 --client-id device-cli
//! ```
//!
//! Options: `--scope "openid api:read"` (default), `--store PATH` (default
//! `./client-tokens-<client id>.json`).

use std::process::ExitCode;

use sealed_session::client::{
    ApiClient, ClientAuthLayer, ClientError, FileStore, OAuthClient, RefreshingSource, TokenSet,
};

struct Args {
    issuer: String,
    client_id: String,
    api: Option<String>,
    scope: String,
    store: Option<String>,
    browser: bool,
    sign_out: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        issuer: String::new(),
        client_id: String::new(),
        api: None,
        scope: "openid api:read".to_owned(),
        store: None,
        browser: false,
        sign_out: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--issuer" => args.issuer = value()?,
            "--client-id" => args.client_id = value()?,
            "--api" => args.api = Some(value()?),
            "--scope" => args.scope = value()?,
            "--store" => args.store = Some(value()?),
            "--browser" => args.browser = true,
            "--sign-out" => args.sign_out = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.issuer.is_empty() || args.client_id.is_empty() {
        return Err("--issuer and --client-id are required".to_owned());
    }
    Ok(args)
}

async fn sign_in(client: &OAuthClient, browser: bool) -> Result<TokenSet, ClientError> {
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if browser {
        let flow = client.loopback_flow();
        tokio::select! {
            result = flow.run(|url| {
                println!("Opening the browser. If it does not open, visit:\n\n  {url}\n");
                let _ = std::process::Command::new(if cfg!(target_os = "macos") { "open" } else { "xdg-open" })
                    .arg(url)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            }) => result,
            () = cancel => Err(ClientError::Cancelled),
        }
    } else {
        client
            .device_flow()
            .run_until(
                |code| {
                    println!(
                        "To sign in, open {} and enter the code {}",
                        code.verification_uri(),
                        code.user_code()
                    );
                    if let Some(direct) = code.verification_uri_complete() {
                        println!("(or open {direct})");
                    }
                },
                cancel,
            )
            .await
    }
}

async fn run(args: Args) -> Result<(), ClientError> {
    let scopes: Vec<&str> = args.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let client = OAuthClient::discover(args.issuer.clone(), args.client_id.clone())
        .await?
        .with_scopes(scopes);
    let path = args
        .store
        .clone()
        .unwrap_or_else(|| format!("client-tokens-{}.json", args.client_id));
    let store = FileStore::new(path, &client);

    if args.sign_out {
        if let Some(set) = store.load()? {
            client.revoke(&set).await?;
        }
        store.clear()?;
        println!("Signed out.");
        return Ok(());
    }

    let set = match store.load()? {
        Some(set) => set,
        None => {
            let set = sign_in(&client, args.browser).await?;
            store.save(&set)?;
            println!("Signed in; tokens stored in {}", store.path().display());
            set
        }
    };
    let Some(api_url) = args.api else {
        return Ok(());
    };
    let saver = store.clone();
    let source = RefreshingSource::new(client, set).with_token_updater(move |set| {
        if let Err(e) = saver.save(set) {
            eprintln!("could not store the new tokens: {e}");
        }
    });
    // Base URL up to the last `/`, and the path after it.
    let (base, path) = api_url
        .rsplit_once('/')
        .map_or((api_url.as_str(), ""), |(b, p)| (b, p));
    let api = ApiClient::new(&format!("{base}/"), ClientAuthLayer::new(source))?;
    match api.get(path).await {
        Ok(res) => {
            println!("{}", res.status());
            println!("{}", String::from_utf8_lossy(res.body()));
            Ok(())
        }
        Err(e) if e.is_login_required() => {
            store.clear()?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\nusage: client --issuer URL --client-id ID [--api URL] [--browser] [--scope S] [--store PATH] [--sign-out]");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
