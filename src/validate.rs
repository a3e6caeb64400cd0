//! Syntax checks shared by several resources: email addresses, domains, ids.

/// Lower-cases and checks an email address; `None` when it is not a plain
/// `local@domain` address (no display name, no spaces, a dotted domain).
pub fn normalize_email(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.len() > 254 || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }

    let (local, domain) = trimmed.rsplit_once('@')?;
    if local.is_empty()
        || local.len() > 64
        || local.contains(['<', '>', '(', ')', ',', ';', ':', '"', '[', ']', '\\', '@'])
    {
        return None;
    }

    let domain = normalize_domain(domain)?;
    Some(format!("{}@{}", local.to_ascii_lowercase(), domain))
}

/// Lower-cases and checks a DNS domain name with at least two labels.
pub fn normalize_domain(raw: &str) -> Option<String> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.len() > 253 || !domain.contains('.') {
        return None;
    }

    let labels_valid = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    labels_valid.then_some(domain)
}

/// Domain part of an already normalized address.
pub fn email_domain(email: &str) -> &str {
    email
        .rsplit_once('@')
        .map(|(_, domain)| domain)
        .unwrap_or_default()
}

/// Checks a brokerage id: 2 to 63 characters of `a-z`, `0-9` and `-`, starting with a letter or digit.
pub fn is_valid_brokerage_id(id: &str) -> bool {
    (2..=63).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_lowercased() {
        assert_eq!(
            normalize_email(" Jane.Doe@Example.COM ").as_deref(),
            Some("jane.doe@example.com")
        );
    }

    #[test]
    fn email_rejects_malformed() {
        for raw in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@localhost",
            "Jane <jane@example.com>",
            "a b@example.com",
            "jane@exa_mple.com",
            "jane@example.com\r\nBcc: x@y.z",
        ] {
            assert!(normalize_email(raw).is_none(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn brokerage_id_rules() {
        assert!(is_valid_brokerage_id("acme-realty"));
        assert!(!is_valid_brokerage_id("Acme"));
        assert!(!is_valid_brokerage_id("-acme"));
        assert!(!is_valid_brokerage_id("a"));
    }
}
