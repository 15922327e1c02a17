//! Kubernetes object names as the bundled chart makes them (`justpush.dnsName` in
//! `chart/templates/_helpers.tpl`), for the code that must find the chart's objects by name.

use sha2::Digest;

/// Longest Kubernetes object name the chart makes (a DNS-1123 label).
pub const MAX_NAME: usize = 63;

/// `name` itself when it fits in 63 characters, else its first 52 characters (without a
/// trailing `-`) and the first 10 hex digits of its sha256: long names stay distinct.
pub fn dns_name(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let mut end = 52;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", name[..end].trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_stay_and_long_ones_keep_what_tells_them_apart() {
        assert_eq!(dns_name("demo-justpush-api"), "demo-justpush-api");
        let a = format!("{}-route-orders-a", "r".repeat(50));
        let b = format!("{}-route-orders-b", "r".repeat(50));
        assert_ne!(dns_name(&a), dns_name(&b));
        assert_eq!(dns_name(&a).len(), 63);
        assert!(dns_name(&a).starts_with(&"r".repeat(50)));
    }
}
