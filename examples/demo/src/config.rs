//! The demo's settings: command-line options first, then environment variables, then embedded
//! defaults (so `cargo run -p sealed-session-demo` needs neither).

use std::path::{Path, PathBuf};

use time::Duration;

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Serve the demo.
    Serve,
    /// Rotate the key file: a new current key, the old one kept as a previous key.
    RotateKey,
    /// Print the usage.
    Help,
}

/// The demo's settings.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) command: Command,
    /// The port on 127.0.0.1 (0 picks a free one).
    pub(crate) port: u16,
    /// Where the database and the key file live; created on first run.
    pub(crate) data_dir: PathBuf,
    /// A session ends after this long without a request.
    pub(crate) idle_timeout: Duration,
    /// A session ends this long after login, whatever happens.
    pub(crate) max_age: Duration,
}

pub(crate) const USAGE: &str = "\
usage: cargo run -p sealed-session-demo -- [rotate-key] [options]

commands:
  (none)                serve the demo on 127.0.0.1
  rotate-key            new current key in the key file; the old one opens existing cookies,
                        so no one is logged out. A running demo picks it up within 2 s.

options (each also read from the environment):
  --port N              PORT                 default 3000; 0 picks a free port
  --data-dir DIR        DEMO_DATA_DIR        database and key file; default demo-data/ beside the
                                             demo's Cargo.toml (examples/demo/demo-data), from
                                             any working directory
  --idle-timeout T      DEMO_IDLE_TIMEOUT    default 30m; e.g. 5s for the browser test
  --max-age T           DEMO_MAX_AGE         default 12h
  (T: a whole number with s, m, h or d)

OAuth login (shown on the login page when set): DEMO_OAUTH_ISSUER, DEMO_OAUTH_CLIENT_ID,
DEMO_OAUTH_CLIENT_SECRET. Built with --features oauth, the API then also accepts the issuer's
JWT access tokens for the audience DEMO_OAUTH_AUDIENCE (default: the demo's own URL).";

impl Config {
    /// Reads the command line (without the program name) and the environment.
    pub(crate) fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut command = Command::Serve;
        let mut port = None;
        let mut data_dir = None;
        let mut idle = None;
        let mut max_age = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                "rotate-key" => command = Command::RotateKey,
                "-h" | "--help" | "help" => command = Command::Help,
                "--port" => port = Some(value("--port")?),
                "--data-dir" => data_dir = Some(value("--data-dir")?),
                "--idle-timeout" => idle = Some(value("--idle-timeout")?),
                "--max-age" => max_age = Some(value("--max-age")?),
                other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            }
        }
        let port = match port.or_else(|| env("PORT")) {
            Some(p) => p
                .parse()
                .map_err(|_| format!("the port must be a number from 0 to 65535, got {p:?}"))?,
            None => 3000,
        };
        let data_dir = data_dir
            .or_else(|| env("DEMO_DATA_DIR"))
            .map_or_else(default_data_dir, PathBuf::from);
        let idle_timeout = match idle.or_else(|| env("DEMO_IDLE_TIMEOUT")) {
            Some(t) => parse_duration(&t)?,
            None => Duration::minutes(30),
        };
        let max_age = match max_age.or_else(|| env("DEMO_MAX_AGE")) {
            Some(t) => parse_duration(&t)?,
            None => Duration::hours(12),
        };
        if idle_timeout < Duration::seconds(3) {
            return Err("the idle timeout must be at least 3s".into());
        }
        if max_age < idle_timeout {
            return Err("the max age must not be shorter than the idle timeout".into());
        }
        Ok(Self {
            command,
            port,
            data_dir,
            idle_timeout,
            max_age,
        })
    }

    /// How often a live cookie is re-sealed, and the clock-skew allowance: both must be below the
    /// idle timeout. A third of it, at most the crate's default of 60 s.
    pub(crate) fn refresh_interval(&self) -> Duration {
        Duration::seconds((self.idle_timeout.whole_seconds() / 3).clamp(1, 60))
    }

    /// The key file.
    pub(crate) fn key_file(&self) -> PathBuf {
        self.data_dir.join("session-keys.txt")
    }

    /// The database.
    pub(crate) fn database(&self) -> PathBuf {
        self.data_dir.join("demo.sqlite3")
    }

    /// The command that rotates this demo's key file, to paste into another shell in the
    /// repository: with the data directory as an absolute `--data-dir` unless it is the default
    /// (which is absolute already), so it finds the same key file from any working directory.
    pub(crate) fn rotate_command(&self) -> String {
        let mut command = String::from("cargo run -p sealed-session-demo -- rotate-key");
        if self.data_dir != default_data_dir() {
            let dir = std::path::absolute(&self.data_dir).unwrap_or_else(|_| self.data_dir.clone());
            command.push_str(" --data-dir ");
            command.push_str(&shell_quote(&dir.to_string_lossy()));
        }
        command
    }
}

/// The default data directory: `demo-data/` in the demo package's own directory. An absolute path
/// fixed at build time, so the server and `rotate-key` use the same one whatever directory they
/// are started from.
pub(crate) fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data")
}

/// `text` as one POSIX shell word: unchanged when it is plain, else in single quotes.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@".contains(&b));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `30s`, `10m`, `12h`, `7d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 5s, 30m, 12h or 7d");
    let text = text.trim();
    let unit = text.chars().last().ok_or_else(bad)?;
    let scale: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let number = text.strip_suffix(unit).ok_or_else(bad)?;
    let n: i64 = number.parse().map_err(|_| bad())?;
    // At most a year: longer lifetimes are no use to a demo, and stay far from overflow.
    let secs = n
        .checked_mul(scale)
        .filter(|s| (1..=365 * 86_400).contains(s));
    secs.map(Duration::seconds).ok_or_else(|| {
        format!("{text:?} is not a duration from 1s to 365d, such as 5s, 30m, 12h or 7d")
    })
}

/// `2d 3h`, `4m 10s`, `12s`: the two largest units.
pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.whole_seconds().max(0);
    let (days, hours, mins, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let (big, small) = match (days, hours, mins) {
        (0, 0, 0) => return format!("{s}s"),
        (0, 0, m) => ((m, "m"), (s, "s")),
        (0, h, m) => ((h, "h"), (m, "m")),
        (d, h, _) => ((d, "d"), (h, "h")),
    };
    match small {
        (0, _) => format!("{}{}", big.0, big.1),
        _ => format!("{}{} {}{}", big.0, big.1, small.0, small.1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_without_panicking() {
        assert_eq!(parse_duration("5s"), Ok(Duration::seconds(5)));
        assert_eq!(parse_duration(" 12h "), Ok(Duration::hours(12)));
        assert_eq!(parse_duration("365d"), Ok(Duration::days(365)));
        for bad in [
            "",
            "s",
            "5",
            "5é",
            "é",
            "0s",
            "-3m",
            "366d",
            "99999999999999999d",
            "5 s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::parse(args.iter().map(|a| (*a).to_owned()), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_need_no_arguments() {
        let c = parse(&[], &[]).unwrap();
        assert_eq!(c.command, Command::Serve);
        assert_eq!(c.port, 3000);
        // Beside the demo's Cargo.toml, as an absolute path: the same from any working directory.
        assert!(c.data_dir.is_absolute(), "{}", c.data_dir.display());
        assert!(c.data_dir.ends_with("demo-data"));
        assert!(c.data_dir.with_file_name("Cargo.toml").is_file());
        assert_eq!(c.idle_timeout, Duration::minutes(30));
        assert_eq!(c.refresh_interval(), Duration::seconds(60));
    }

    #[test]
    fn arguments_win_over_the_environment() {
        let c = parse(
            &["--port", "0", "--idle-timeout", "5s"],
            &[
                ("PORT", "8080"),
                ("DEMO_IDLE_TIMEOUT", "1h"),
                ("DEMO_DATA_DIR", "/tmp/x"),
            ],
        )
        .unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.idle_timeout, Duration::seconds(5));
        assert_eq!(c.refresh_interval(), Duration::seconds(1));
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(
            parse(&["rotate-key"], &[]).unwrap().command,
            Command::RotateKey
        );
    }

    #[test]
    fn the_rotate_command_finds_the_servers_key_file_from_any_directory() {
        // The default data directory is absolute: the plain command finds it.
        let server = parse(&[], &[]).unwrap();
        assert_eq!(
            server.rotate_command(),
            "cargo run -p sealed-session-demo -- rotate-key"
        );
        // A relative --data-dir (or DEMO_DATA_DIR) is resolved now, against the server's working
        // directory, and the command carries the absolute path.
        for server in [
            parse(&["--data-dir", "some/dir"], &[]).unwrap(),
            parse(&[], &[("DEMO_DATA_DIR", "some/dir")]).unwrap(),
        ] {
            let command = server.rotate_command();
            let args = command
                .strip_prefix("cargo run -p sealed-session-demo -- ")
                .unwrap();
            let args: Vec<&str> = args.split(' ').collect();
            let rotate = parse(&args, &[]).unwrap();
            assert_eq!(rotate.command, Command::RotateKey);
            assert!(rotate.key_file().is_absolute(), "{command}");
            assert_eq!(
                rotate.key_file(),
                std::path::absolute(server.key_file()).unwrap()
            );
        }
        // A path with spaces or quotes stays one shell word.
        let odd = parse(&["--data-dir", "/tmp/it's a dir"], &[]).unwrap();
        assert_eq!(
            odd.rotate_command(),
            r"cargo run -p sealed-session-demo -- rotate-key --data-dir '/tmp/it'\''s a dir'"
        );
    }

    #[test]
    fn bad_values_are_readable_errors() {
        assert!(parse(&["--port", "x"], &[]).unwrap_err().contains("port"));
        assert!(parse(&["--idle-timeout", "5"], &[])
            .unwrap_err()
            .contains("duration"));
        assert!(parse(&["--idle-timeout", "1s"], &[])
            .unwrap_err()
            .contains("at least"));
        assert!(parse(&["--max-age", "1m", "--idle-timeout", "2m"], &[]).is_err());
        assert!(parse(&["--bogus"], &[]).unwrap_err().contains("usage"));
        assert!(parse(&["--port"], &[])
            .unwrap_err()
            .contains("needs a value"));
    }

    #[test]
    fn durations_format_with_two_units() {
        assert_eq!(format_duration(Duration::seconds(12)), "12s");
        assert_eq!(format_duration(Duration::seconds(250)), "4m 10s");
        assert_eq!(format_duration(Duration::minutes(185)), "3h 5m");
        assert_eq!(format_duration(Duration::hours(51)), "2d 3h");
        assert_eq!(format_duration(Duration::minutes(30)), "30m");
        assert_eq!(format_duration(Duration::days(7)), "7d");
        assert_eq!(format_duration(Duration::seconds(-5)), "0s");
    }
}
