//! Who may talk to the dashboard, decided per request (pure): a per-launch token (256 bits from
//! the OS), as the `?token=` of the printed URL (exchanged once for a cookie), the cookie, or
//! `Authorization: Bearer`; a `Host` of the loopback address and port the server bound (DNS
//! rebinding sends another name); no foreign `Origin`; a CSRF header on every request that
//! changes something (a cross-site form cannot set one).

use rand::RngCore;

/// The cookie the `?token=` is exchanged for.
pub const COOKIE: &str = "justpush_dashboard";
/// The header a mutating request must carry (any value): browsers only let same-origin
/// scripts set it.
pub const CSRF_HEADER: &str = "x-justpush-csrf";

/// The launch's secret: 32 bytes from the OS's generator, shown as 64 hex digits.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn generate() -> Token {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Token(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token's text (for the printed URL and the 0600 state file only).
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the token, in time that does not depend on where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// What a request says about itself, as the guard needs it.
#[derive(Debug, Default, Clone)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub cookie: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub csrf: bool,
}

/// Why a request is refused (the status and a message that names the fix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 421: the Host is not this server's loopback address and port.
    WrongHost,
    /// 403: a page of another origin sent it.
    ForeignOrigin,
    /// 401: no valid token.
    NoToken,
    /// 403: a change without the CSRF header.
    NoCsrfHeader,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::WrongHost => 421,
            Refusal::ForeignOrigin | Refusal::NoCsrfHeader => 403,
            Refusal::NoToken => 401,
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            Refusal::WrongHost => "this dashboard answers on its loopback address only (open the URL `kubectl justpush dashboard` printed)",
            Refusal::ForeignOrigin => "a page of another origin sent this request; the dashboard only takes requests from its own pages",
            Refusal::NoToken => "no valid token: open the URL `kubectl justpush dashboard` printed (it carries the token), or send Authorization: Bearer TOKEN (the token is in the dashboard's state file)",
            Refusal::NoCsrfHeader => "a request that changes something needs the X-Justpush-CSRF header (the dashboard's pages send it)",
        }
    }
}

/// The names this server is reached by: the loopback addresses and `localhost`, on its port.
pub fn host_allowed(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| host == format!("{name}:{port}"))
}

/// An `Origin` that is this server's own (or none: same-origin GETs and non-browser clients
/// send none).
pub fn origin_allowed(origin: Option<&str>, port: u16) -> bool {
    match origin {
        None => true,
        Some(o) => o
            .strip_prefix("http://")
            .is_some_and(|rest| host_allowed(Some(rest), port)),
    }
}

/// The session cookie's value, from a `Cookie` header.
pub fn session_cookie(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// Decides a request. `token_in_query` is the `?token=` of a page request (exchanged for the
/// cookie by the caller when this passes).
pub fn admit(
    facts: &RequestFacts<'_>,
    token: &Token,
    port: u16,
    token_in_query: Option<&str>,
) -> Result<(), Refusal> {
    if !host_allowed(facts.host, port) {
        return Err(Refusal::WrongHost);
    }
    if !origin_allowed(facts.origin, port) {
        return Err(Refusal::ForeignOrigin);
    }
    let bearer = facts
        .authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| token.matches(t.trim()));
    let cookie = facts
        .cookie
        .and_then(session_cookie)
        .is_some_and(|t| token.matches(t));
    let query = token_in_query.is_some_and(|t| token.matches(t));
    if !(bearer || cookie || query) {
        return Err(Refusal::NoToken);
    }
    let changes = !matches!(facts.method, "GET" | "HEAD" | "OPTIONS");
    if changes && !facts.csrf {
        return Err(Refusal::NoCsrfHeader);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(host: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            method: "GET",
            host: Some(host),
            ..Default::default()
        }
    }

    #[test]
    fn tokens_are_256_bits_of_hex_and_differ_per_launch() {
        let (a, b) = (Token::generate(), Token::generate());
        assert_eq!(a.reveal().len(), 64);
        assert!(a.reveal().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.reveal(), b.reveal());
        assert!(a.matches(a.reveal()));
        assert!(!a.matches(b.reveal()));
        assert!(!a.matches(&a.reveal()[..63]));
        assert_eq!(format!("{a:?}"), "Token(<redacted>)");
    }

    #[test]
    fn only_the_loopback_host_and_port_and_own_origin_pass() {
        let t = Token::generate();
        let cookie = format!("other=1; {COOKIE}={}", t.reveal());
        let with = |host| RequestFacts {
            cookie: Some(&cookie),
            ..facts(host)
        };
        assert_eq!(admit(&with("127.0.0.1:8765"), &t, 8765, None), Ok(()));
        assert_eq!(admit(&with("localhost:8765"), &t, 8765, None), Ok(()));
        // DNS rebinding: a hostile name resolving to 127.0.0.1 sends its own Host.
        for bad in [
            "evil.example:8765",
            "127.0.0.1:80",
            "127.0.0.1",
            "localhost.evil:8765",
        ] {
            assert_eq!(
                admit(&with(bad), &t, 8765, None),
                Err(Refusal::WrongHost),
                "{bad}"
            );
        }
        let foreign = RequestFacts {
            origin: Some("http://evil.example"),
            ..with("127.0.0.1:8765")
        };
        assert_eq!(admit(&foreign, &t, 8765, None), Err(Refusal::ForeignOrigin));
        let own = RequestFacts {
            origin: Some("http://127.0.0.1:8765"),
            ..with("127.0.0.1:8765")
        };
        assert_eq!(admit(&own, &t, 8765, None), Ok(()));
    }

    #[test]
    fn a_token_is_needed_and_changes_need_the_csrf_header() {
        let t = Token::generate();
        let host = "127.0.0.1:9000";
        assert_eq!(admit(&facts(host), &t, 9000, None), Err(Refusal::NoToken));
        assert_eq!(
            admit(&facts(host), &t, 9000, Some("0".repeat(64).as_str())),
            Err(Refusal::NoToken)
        );
        assert_eq!(admit(&facts(host), &t, 9000, Some(t.reveal())), Ok(()));
        let bearer = format!("Bearer {}", t.reveal());
        let post = RequestFacts {
            method: "POST",
            authorization: Some(&bearer),
            ..facts(host)
        };
        assert_eq!(admit(&post, &t, 9000, None), Err(Refusal::NoCsrfHeader));
        let post = RequestFacts { csrf: true, ..post };
        assert_eq!(admit(&post, &t, 9000, None), Ok(()));
    }
}
