//! Object name rules and generated names.

/// Why a name is not a valid DNS-1123 subdomain, if it is not.
pub fn name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    (!ok).then(|| {
        format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    })
}

/// Why `name` is not a valid DNS-1123 label (container, port and volume names), if it is
/// not (apimachinery `pkg/util/validation/validation.go` `IsDNS1123Label`).
pub fn label_problem(name: &str) -> Option<String> {
    let ok = name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        None
    } else if name.len() > 63 {
        Some(format!(
            "Invalid value: {name:?}: must be no more than 63 characters"
        ))
    } else {
        Some(format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ))
    }
}

/// RBAC objects only need names usable as a path segment.
pub fn path_segment_problem(name: &str) -> Option<String> {
    if name == "." || name == ".." {
        return Some(format!("Invalid value: {name:?}: may not be '{name}'"));
    }
    name.chars()
        .find(|c| *c == '/' || *c == '%')
        .map(|c| format!("Invalid value: {name:?}: may not contain '{c}'"))
}

/// Five characters of `names.SimpleNameGenerator` (apiserver
/// `pkg/storage/names/generate.go`; apimachinery `pkg/util/rand/rand.go`'s alphabet, which
/// has no vowels and no easily confused characters).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}
