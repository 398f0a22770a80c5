//! Database URLs: which backend a URL names, and how to print one without its secrets.
//!
//! Decisions:
//! - **A scheme is required.** `postgres://…` / `postgresql://…` (PostgreSQL) and `sqlite://…` /
//!   `sqlite:…` (SQLite) are accepted; anything else — `mysql://…`, a typo such as `postgre://`,
//!   a bare file path, a libpq `host=… password=…` string — is refused as
//!   [`StoreError::InvalidUrl`], before anything is opened or created. (A bare path used to be
//!   taken as a SQLite file, so `mysql://u:pw@db/x` became a SQLite path.)
//! - **One redaction, [`redact`], for every URL that may be printed** (the start banner, the
//!   start errors, benchmarks). It hides the password of the user-info (`user:[redacted]@`)
//!   and the value of every query parameter but the drivers' own harmless ones
//!   ([`POSTGRES_PARAMETERS`] but `password`, and [`SHOWN_SQLITE_PARAMETERS`]: `sslmode`,
//!   `host`…): `?password=`, `sslpassword`, a misspelt `pasword`, percent-encoded names too;
//!   in strings that are not URLs at all (a libpq `host=… password=…` string), the same
//!   `name=value` pairs. It never needs the URL to be well-formed: for a malformed one it hides
//!   more rather than less (everything between `://` and the last `@` that contains a `:`).
//! - Error messages of the store never contain the URL: [`StoreError::InvalidUrl`] and
//!   [`StoreError::Unreachable`] name the scheme, the parameter, or the host and port only.

use crate::error::StoreError;
use percent_encoding::percent_decode_str;

/// What Carnet accepts, for messages.
pub const ACCEPTED_SCHEMES: &str = "postgres://, postgresql:// or sqlite://";

/// The backend a database URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend of `url`, or why the URL names none. The error never contains the URL.
    pub fn of(url: &str) -> Result<Self, StoreError> {
        match scheme(url) {
            Some(scheme @ ("postgres" | "postgresql")) => match url[scheme.len()..].starts_with("://") {
                true => Ok(Self::Postgres),
                false => Err(StoreError::InvalidUrl {
                    reason: format!(
                        "a PostgreSQL URL starts with `{scheme}://`; the accepted schemes are {ACCEPTED_SCHEMES}"
                    ),
                }),
            },
            Some("sqlite") => Ok(Self::Sqlite),
            Some(other) => Err(StoreError::InvalidUrl {
                reason: format!("unsupported scheme `{other}:`; the accepted ones are {ACCEPTED_SCHEMES}"),
            }),
            None => Err(StoreError::InvalidUrl {
                reason: format!("it has no scheme; it must start with {ACCEPTED_SCHEMES}"),
            }),
        }
    }
}

/// The scheme of `url` (RFC 3986: a letter, then letters, digits, `+`, `-` or `.`, then `:`).
fn scheme(url: &str) -> Option<&str> {
    let end = url.find(':')?;
    let candidate = &url[..end];
    let mut chars = candidate.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))).then_some(candidate)
}

/// The parameters whose value [`redact`] shows: the drivers' own that hold no secret (every
/// PostgreSQL one of [`POSTGRES_PARAMETERS`] but `password`, and these of SQLite). Any other
/// one is hidden, a misspelt password (`pasword=…`, `passwd=…`) included.
const SHOWN_SQLITE_PARAMETERS: &[&str] = &["mode", "cache", "immutable", "vfs"];

/// Whether [`redact`] hides the value of parameter `name` (as written, maybe percent-encoded).
fn is_secret_parameter(name: &str) -> bool {
    let name = percent_decode_str(name).decode_utf8_lossy().to_ascii_lowercase();
    let shown = (POSTGRES_PARAMETERS.contains(&name.as_str()) && name != "password")
        || SHOWN_SQLITE_PARAMETERS.contains(&name.as_str())
        || name.starts_with("options[");
    !shown
}

/// `url` without its secrets, for messages and logs. See the module documentation.
pub fn redact(url: &str) -> String {
    let without_user_password = redact_user_info(url);
    // the parameters: after `?` in a URL; the whole string when it is not a URL at all
    match without_user_password.find('?') {
        Some(at) => {
            let (head, query) = without_user_password.split_at(at + 1);
            format!("{head}{}", redact_pairs(query))
        }
        None if !url.contains("://") => redact_pairs(&without_user_password),
        None => without_user_password,
    }
}

/// `scheme://user:[redacted]@host…`: everything from the first `:` of the user-info to the
/// *last* `@` (a password may hold a raw `@`, `/` or `?` in a malformed URL).
fn redact_user_info(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let Some(at) = url[start..].rfind('@').map(|i| start + i) else {
        return url.to_owned();
    };
    match url[start..at].find(':') {
        Some(colon) => format!("{}:[redacted]{}", &url[..start + colon], &url[at..]),
        None => url.to_owned(),
    }
}

/// `name=value` pairs separated by `&`, `;` or whitespace, with the values of secret names
/// replaced; a quoted value (`password='a b'`) is hidden up to its closing quote.
fn redact_pairs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| c == '=' || c == '&' || c == ';' || c.is_whitespace()).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        out.push_str(name);
        let Some(value) = after.strip_prefix('=') else {
            // a separator (or the end): copy it and go on
            let mut chars = after.chars();
            if let Some(c) = chars.next() {
                out.push(c);
            }
            rest = chars.as_str();
            continue;
        };
        out.push('=');
        let value_end = match value.chars().next() {
            Some(quote @ ('\'' | '"')) => value[1..].find(quote).map_or(value.len(), |i| i + 2),
            _ => value.find(|c: char| c == '&' || c == ';' || c.is_whitespace()).unwrap_or(value.len()),
        };
        let name = name.trim_start_matches(['&', ';']);
        if is_secret_parameter(name) {
            out.push_str("[redacted]");
        } else {
            out.push_str(&value[..value_end]);
        }
        rest = &value[value_end..];
    }
    out
}

/// The query parameters of a PostgreSQL URL that the driver understands (sqlx 0.8); any other
/// one is refused rather than ignored, so that a misspelt one (`sslmod=require`, `pasword=…`)
/// does not silently weaken the connection or end up in a log.
pub const POSTGRES_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// Refuses a PostgreSQL URL parameter the driver would ignore; names it, never its value.
pub(crate) fn check_postgres_parameters(url: &str) -> Result<(), StoreError> {
    let Some((_, query)) = url.split_once('?') else { return Ok(()) };
    let query = query.split('#').next().unwrap_or_default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let name = pair.split('=').next().unwrap_or_default();
        let name = percent_decode_str(name).decode_utf8_lossy();
        let known = POSTGRES_PARAMETERS.contains(&name.as_ref())
            || name.strip_prefix("options[").is_some_and(|n| n.ends_with(']'));
        if !known {
            // a name with other characters may be the tail of a password holding a raw `?`
            let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || "_-[]".contains(c));
            let shown = if plain { name } else { "(not shown: it is malformed)".into() };
            return Err(StoreError::InvalidUrl {
                reason: format!(
                    "unknown parameter `{shown}` in the PostgreSQL URL; the accepted ones are {}, options[…]",
                    POSTGRES_PARAMETERS.join(", ")
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form a password can take in a database URL, and what may be printed of it.
    #[test]
    fn redaction_hides_every_password_and_keeps_the_rest() {
        let table = [
            // user:pass@
            ("postgres://carnet:s3cret@db:5432/carnet", "postgres://carnet:[redacted]@db:5432/carnet"),
            ("postgresql://:s3cret@db/carnet", "postgresql://:[redacted]@db/carnet"),
            // ?password=
            (
                "postgres://carnet@db/carnet?password=s3cret&sslmode=require",
                "postgres://carnet@db/carnet?password=[redacted]&sslmode=require",
            ),
            (
                "postgres://carnet@db/carnet?sslmode=require&sslpassword=s3cret",
                "postgres://carnet@db/carnet?sslmode=require&sslpassword=[redacted]",
            ),
            // both
            (
                "postgres://carnet:s3cret@db/carnet?password=s3cret",
                "postgres://carnet:[redacted]@db/carnet?password=[redacted]",
            ),
            // percent-encoded password, and a percent-encoded parameter name
            ("postgres://carnet:s3c%40ret%2F@db/carnet", "postgres://carnet:[redacted]@db/carnet"),
            ("postgres://carnet@db/carnet?pass%77ord=s3cret", "postgres://carnet@db/carnet?pass%77ord=[redacted]"),
            // a misspelt or unknown parameter: its value is hidden too
            ("postgres://carnet@db/carnet?pasword=s3cret", "postgres://carnet@db/carnet?pasword=[redacted]"),
            (
                "postgres://carnet@db/carnet?sslmode=require&pwd=s3cret",
                "postgres://carnet@db/carnet?sslmode=require&pwd=[redacted]",
            ),
            // malformed: a raw `@`, `/` or `?` in the password, a bad port, a missing `:`
            ("postgres://carnet:s3c@ret@db/carnet", "postgres://carnet:[redacted]@db/carnet"),
            ("postgres://carnet:s3c/ret@db/carnet", "postgres://carnet:[redacted]@db/carnet"),
            ("postgres://carnet:s3c?ret@db/carnet", "postgres://carnet:[redacted]@db/carnet"),
            ("postgres://carnet:s3cret@db:54x32/carnet", "postgres://carnet:[redacted]@db:54x32/carnet"),
            ("postgres//carnet:s3cret@db/carnet", "postgres//carnet:[redacted]@db/carnet"),
            ("postgres:/carnet:s3cret@db/carnet", "postgres:[redacted]@db/carnet"),
            ("mysql://carnet:s3cret@db/carnet", "mysql://carnet:[redacted]@db/carnet"),
            ("postgres://db/carnet?password=s3cret@x", "postgres://db/carnet?password=[redacted]"),
            // not a URL: a libpq keyword/value string
            ("host=db user=carnet password=s3cret", "host=db user=carnet password=[redacted]"),
            ("host=db password='s3c ret' dbname=carnet", "host=db password=[redacted] dbname=carnet"),
            // no password: unchanged
            ("postgres://carnet@db:5432/carnet?sslmode=require", "postgres://carnet@db:5432/carnet?sslmode=require"),
            ("sqlite://data/carnet.db", "sqlite://data/carnet.db"),
            ("sqlite:carnet.db?mode=rwc", "sqlite:carnet.db?mode=rwc"),
            ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/postgres"),
        ];
        for (url, expected) in table {
            let shown = redact(url);
            assert_eq!(shown, expected, "{url}");
            assert!(!shown.contains("s3c"), "every password of the table holds `s3c`: {url} → {shown}");
        }
    }

    #[test]
    fn only_the_supported_schemes_name_a_backend() {
        for (url, backend) in [
            ("postgres://db/carnet", Backend::Postgres),
            ("postgresql://db/carnet", Backend::Postgres),
            ("sqlite://data/carnet.db", Backend::Sqlite),
            ("sqlite:carnet.db", Backend::Sqlite),
            ("sqlite::memory:", Backend::Sqlite),
        ] {
            assert_eq!(Backend::of(url).unwrap(), backend, "{url}");
        }
        for url in [
            "mysql://carnet:s3cret@db/carnet",
            "postgre://carnet:s3cret@db/carnet",
            "Postgres://carnet:s3cret@db/carnet",
            "postgres:carnet:s3cret@db",
            "file:data/carnet.db",
            "data/carnet.db",
            "postgres//carnet:s3cret@db/carnet",
            "host=db password=s3cret",
            "",
        ] {
            let error = Backend::of(url).expect_err(url).to_string();
            assert!(error.contains("postgres://, postgresql:// or sqlite://"), "{url}: {error}");
            assert!(!error.contains("s3cret"), "{url}: {error}");
        }
        let mysql = Backend::of("mysql://carnet:s3cret@db/carnet").unwrap_err().to_string();
        assert!(mysql.contains("unsupported scheme `mysql:`"), "{mysql}");
    }

    #[test]
    fn unknown_postgres_parameters_are_refused_without_their_value() {
        assert!(check_postgres_parameters("postgres://db/c?sslmode=require&options[search_path]=x").is_ok());
        let typo = check_postgres_parameters("postgres://db/c?sslmod=require").unwrap_err().to_string();
        assert!(typo.contains("`sslmod`") && typo.contains("sslmode"), "{typo}");
        let password = check_postgres_parameters("postgres://db/c?pasword=s3cret").unwrap_err().to_string();
        assert!(!password.contains("s3cret") && password.contains("`pasword`"), "{password}");
        let tail = check_postgres_parameters("postgres://u:1?s3c@ret@db/c").unwrap_err().to_string();
        assert!(!tail.contains("s3c") && tail.contains("malformed"), "{tail}");
    }
}
