//! Object names: stable, DNS-1123 labels of at most 63 characters.

/// The longest DNS-1123 label.
pub const MAX_LEN: usize = 63;

/// `text` as a DNS-1123 label (lower-case alphanumerics and `-`, starting and
/// ending with an alphanumeric). When the text had to change beyond `.` -> `-`,
/// or is too long, an 8-hex-digit hash of the original is appended, so distinct
/// inputs keep distinct names.
pub fn dns_label(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    let lossy = text
        .chars()
        .any(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '.'));
    let trimmed = out.trim_matches('-').to_string();
    let changed = lossy || trimmed.len() != out.len() || trimmed.is_empty();
    out = trimmed;
    if !changed && out.len() <= MAX_LEN {
        return out;
    }
    with_hash(&out, text)
}

/// `base` cut so that `base-HASH` fits in 63 characters, with the hash of `key`.
pub fn with_hash(base: &str, key: &str) -> String {
    let hash = format!("{:08x}", fnv1a(key.as_bytes()));
    let keep = MAX_LEN - hash.len() - 1;
    let cut: String = base.chars().take(keep).collect();
    let cut = cut.trim_end_matches('-');
    if cut.is_empty() {
        format!("x{hash}")
    } else {
        format!("{cut}-{hash}")
    }
}

/// 32-bit FNV-1a: a stable hash (the standard library's is randomly seeded).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX_LEN
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn names_are_dns_labels_and_stable() {
        assert_eq!(dns_label("moat-mz.kernel"), "moat-mz-kernel");
        let long = format!("moat-{}", "a".repeat(80));
        let n = dns_label(&long);
        assert!(valid(&n) && n.len() == MAX_LEN, "{n}");
        assert_eq!(n, dns_label(&long));
        assert_ne!(dns_label("moat-a_b"), dns_label("moat-a-b"));
        for s in ["moat-a_b", "-x-", "___", "cell2.mz.reg_proc"] {
            assert!(valid(&dns_label(s)), "{s} -> {}", dns_label(s));
        }
    }
}
