//! What a credential looks like: the rules of `scripts/secret-scan.sh`, for values the Worker
//! holds at run time (its plain `[vars]` settings). Used by the go-live checklist
//! ([`super::checklist`]) to refuse a secret that was put in `wrangler.toml` instead of
//! `wrangler secret put`. Only the rule's name ever leaves this module, never the value.

/// Shannon entropy (bits per character) above which a value assigned to a credential-like name
/// counts as random (the scan's `SECRET_SCAN_MIN_ENTROPY` default).
pub const MIN_ENTROPY: f64 = 3.5;

/// Length from which a value assigned to a credential-like name is examined.
pub const MIN_ASSIGNED_LEN: usize = 32;

/// Words that make a setting's name credential-like (compared case-insensitively).
const CREDENTIAL_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "APIKEY",
    "API_KEY",
    "API-KEY",
    "PRIVATE_KEY",
    "PRIVATEKEY",
    "ACCESS_KEY",
    "SIGNING_KEY",
    "CLIENT_SECRET",
    "AUTH",
    "SEED",
];

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Length of the run of bytes satisfying `class` starting at `at`.
fn run_len(bytes: &[u8], at: usize, class: fn(u8) -> bool) -> usize {
    bytes[at.min(bytes.len())..]
        .iter()
        .take_while(|b| class(**b))
        .count()
}

/// Every start offset of `needle` in `hay`.
fn occurrences<'a>(hay: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    hay.match_indices(needle).map(|(i, _)| i)
}

fn pem_private_key(v: &str) -> bool {
    occurrences(v, "-----BEGIN ").any(|i| {
        let rest = &v[i + 11..];
        rest.find("-----")
            .map(|end| {
                rest[..end].ends_with("PRIVATE KEY") || rest[..end].ends_with("PRIVATE KEY BLOCK")
            })
            .unwrap_or(false)
    })
}

fn aws_access_key(v: &str) -> bool {
    let b = v.as_bytes();
    ["AKIA", "ASIA"].iter().any(|p| {
        occurrences(v, p).any(|i| {
            let before_ok = i == 0 || !(b[i - 1].is_ascii_uppercase() || b[i - 1].is_ascii_digit());
            let n = b[i + 4..]
                .iter()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                .count();
            before_ok && n == 16
        })
    })
}

fn prefixed(v: &str, prefix: &str, class: fn(u8) -> bool, min: usize) -> bool {
    let b = v.as_bytes();
    occurrences(v, prefix).any(|i| run_len(b, i + prefix.len(), class) >= min)
}

fn anthropic_key(v: &str) -> bool {
    prefixed(v, "sk-ant-", is_token_char, 20)
}

fn openai_key(v: &str) -> bool {
    prefixed(v, "sk-proj-", is_alnum, 32) || prefixed(v, "sk-", is_alnum, 32)
}

fn github_token(v: &str) -> bool {
    ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
        .iter()
        .any(|p| prefixed(v, p, is_alnum, 36))
        || prefixed(v, "github_pat_", is_token_char, 40)
}

fn slack_token(v: &str) -> bool {
    ["xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-"]
        .iter()
        .any(|p| prefixed(v, p, |c| c.is_ascii_alphanumeric() || c == b'-', 10))
}

fn jwt(v: &str) -> bool {
    let b = v.as_bytes();
    occurrences(v, "eyJ").any(|i| {
        let first = run_len(b, i, is_b64url);
        let second_at = i + first;
        if first < 11 || b.get(second_at) != Some(&b'.') || !v[second_at + 1..].starts_with("eyJ") {
            return false;
        }
        let second = run_len(b, second_at + 1, is_b64url);
        let third_at = second_at + 1 + second;
        second >= 11 && b.get(third_at) == Some(&b'.') && run_len(b, third_at + 1, is_b64url) >= 8
    })
}

/// Shannon entropy of `s` in bits per character.
pub fn entropy(s: &str) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether a setting's name says it holds a credential.
pub fn credential_like_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    CREDENTIAL_WORDS.iter().any(|w| upper.contains(w)) || upper.ends_with("_KEY")
}

/// A long, random-looking value (32+ token characters, entropy ≥ [`MIN_ENTROPY`]).
fn random_looking(v: &str) -> bool {
    let v = v.trim();
    v.len() >= MIN_ASSIGNED_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_.-".contains(&b))
        && entropy(v) >= MIN_ENTROPY
}

/// A named shape test.
type Rule = (&'static str, fn(&str) -> bool);

/// The name of the first rule the setting `name = value` matches, or `None` when it does not
/// look like a credential. The value is never part of the answer.
pub fn secret_like(name: &str, value: &str) -> Option<&'static str> {
    let rules: [Rule; 7] = [
        ("pem-private-key", pem_private_key),
        ("aws-access-key", aws_access_key),
        ("anthropic-key", anthropic_key),
        ("openai-key", openai_key),
        ("github-token", github_token),
        ("slack-token", slack_token),
        ("jwt", jwt),
    ];
    if let Some((rule, _)) = rules.iter().find(|(_, f)| f(value)) {
        return Some(rule);
    }
    if credential_like_name(name) && random_looking(value) {
        return Some("assigned-credential");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // Planted values are assembled at run time so that the repository's own secret scan never
    // sees a credential-shaped literal in this file.
    fn planted(prefix: &[&str], body: &str) -> String {
        format!("{}{}", prefix.concat(), body)
    }

    const RANDOM: &str = "q8ZJt3Vx0mLr7KpW2aYc9HdN5bFs1UeG4iOoTjXkzA6vRnEw";

    #[test]
    fn each_rule_catches_its_shape() {
        let pem = planted(&["-----BEGIN ", "RSA PRIVATE", " KEY-----"], "\nMIIE\n");
        assert_eq!(secret_like("X", &pem), Some("pem-private-key"));
        let aws = planted(&["AK", "IA"], "ABCDEFGHIJKLMNOP");
        assert_eq!(secret_like("X", &aws), Some("aws-access-key"));
        let ant = planted(&["sk-", "ant-"], &RANDOM[..30]);
        assert_eq!(secret_like("X", &ant), Some("anthropic-key"));
        let oai = planted(&["sk-"], &RANDOM[..40]);
        assert_eq!(secret_like("X", &oai), Some("openai-key"));
        let gh = planted(&["gh", "p_"], &RANDOM[..36]);
        assert_eq!(secret_like("X", &gh), Some("github-token"));
        let slack = planted(&["xo", "xb-"], "1234567890-abc");
        assert_eq!(secret_like("X", &slack), Some("slack-token"));
        let jwt = planted(
            &[
                "ey",
                "JhbGciOiJSUzI1NiJ9",
                ".",
                "ey",
                "JzdWIiOiJhbGljZSJ9",
                ".",
            ],
            "c2lnbmF0dXJl",
        );
        assert_eq!(secret_like("X", &jwt), Some("jwt"));
    }

    #[test]
    fn a_random_value_under_a_credential_name_is_caught_and_a_plain_one_is_not() {
        assert_eq!(
            secret_like("WEBHOOK_TOKEN", RANDOM),
            Some("assigned-credential")
        );
        assert_eq!(
            secret_like("my_api_key", RANDOM),
            Some("assigned-credential")
        );
        // The same value under a neutral name is left alone (an Access AUD tag is random too).
        assert_eq!(secret_like("CF_ACCESS_AUD", RANDOM), None);
        // Low entropy or short values under a credential name are settings, not secrets.
        assert_eq!(secret_like("TOKEN_TTL", "3600"), None);
        assert_eq!(secret_like("AUTH_MODE", &"a".repeat(40)), None);
    }

    #[test]
    fn the_project_settings_are_clean() {
        for (name, value) in [
            (
                "KALSHI_BASE_URL",
                "https://api.elections.kalshi.com/trade-api/v2",
            ),
            ("POLYMARKET_GAMMA_URL", "https://gamma-api.polymarket.com"),
            ("ANTHROPIC_MODEL", "claude-sonnet-4-5"),
            ("CF_ACCESS_TEAM_DOMAIN", "paulp.cloudflareaccess.com"),
            ("AUDIT_LOG_ORIGIN", "paul-p/audit"),
            ("SECURITY_DB_GUARDRAILS", "1"),
            ("ADMIN_ALLOWED_EMAILS", "alice@example.com,bob@example.com"),
            ("EXECUTION_MODE", "paper"),
        ] {
            assert_eq!(secret_like(name, value), None, "{name}");
        }
    }

    #[test]
    fn near_misses_are_not_credentials() {
        assert_eq!(secret_like("X", "sk-short"), None);
        assert_eq!(secret_like("X", "-----BEGIN PUBLIC KEY-----"), None);
        assert_eq!(secret_like("X", "AKIA123"), None);
        assert_eq!(secret_like("X", "eyJ.eyJ.x"), None);
        assert!(entropy("aaaa") < 0.01);
        assert!((entropy("ab") - 1.0).abs() < 1e-9);
    }
}
