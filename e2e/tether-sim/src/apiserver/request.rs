//! What a request asks for: parsed from method, path and query as the real server's
//! RequestInfo does.

use std::collections::HashMap;

/// A parsed request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestInfo {
    /// Whether the path names a resource (vs. discovery and other non-resource URLs).
    pub resource_request: bool,
    /// URL path.
    pub path: String,
    /// Kubernetes verb (or lowercase HTTP method for non-resource requests).
    pub verb: String,
    /// API group (`""` for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Namespace from the path.
    pub namespace: String,
    /// Object name from the path.
    pub name: String,
    /// Decoded query parameters.
    pub query: HashMap<String, String>,
}

impl RequestInfo {
    /// A query parameter.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }

    /// A boolean query parameter (`true` / `1`).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true") | Some("1"))
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decode one query component (`+` is a space).
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a query string.
pub fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Parse method + path + query.
pub fn parse(method: &str, path: &str, query: &str) -> RequestInfo {
    let mut ri = RequestInfo {
        path: path.to_string(),
        query: parse_query(query),
        ..Default::default()
    };
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let rest: &[&str] = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => {
            ri.version = (*v).into();
            rest
        }
        ["apis", g, v, rest @ ..] if !rest.is_empty() => {
            ri.group = (*g).into();
            ri.version = (*v).into();
            rest
        }
        _ => {
            ri.verb = method.to_lowercase();
            if ri.verb == "head" {
                ri.verb = "get".into();
            }
            return ri;
        }
    };
    ri.resource_request = true;
    let rest: Vec<&str> = if rest[0] == "namespaces"
        && rest.len() >= 3
        && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"))
    {
        ri.namespace = rest[1].into();
        rest[2..].to_vec()
    } else {
        rest.to_vec()
    };
    ri.resource = rest[0].into();
    if let Some(n) = rest.get(1) {
        ri.name = (*n).into();
    }
    if let Some(s) = rest.get(2) {
        ri.subresource = (*s).into();
    }
    if ri.resource == "namespaces" && !ri.name.is_empty() && ri.namespace.is_empty() {
        // A namespace is cluster-scoped but authorised within itself.
        ri.namespace = ri.name.clone();
    }
    ri.verb = match (method, ri.name.is_empty()) {
        ("GET" | "HEAD", false) => "get",
        ("GET" | "HEAD", true) if ri.flag("watch") => "watch",
        ("GET" | "HEAD", true) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "delete",
        ("DELETE", true) => "deletecollection",
        _ => "unknown",
    }
    .into();
    ri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_like_the_real_server() {
        let r = parse(
            "GET",
            "/api/v1/namespaces/ns/pods",
            "fieldSelector=spec.nodeName%3Dedge-1&watch=1",
        );
        assert_eq!(
            (r.verb.as_str(), r.namespace.as_str(), r.resource.as_str()),
            ("watch", "ns", "pods")
        );
        assert_eq!(r.q("fieldSelector"), Some("spec.nodeName=edge-1"));
        let r = parse(
            "PATCH",
            "/apis/tether.dev/v1alpha1/networkprofiles/camera/status",
            "",
        );
        assert_eq!(
            (r.group.as_str(), r.name.as_str(), r.subresource.as_str()),
            ("tether.dev", "camera", "status")
        );
        let r = parse("GET", "/api/v1/namespaces/kube-system", "");
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str(), r.name.as_str()),
            ("get", "namespaces", "kube-system")
        );
        let r = parse("GET", "/apis", "");
        assert!(!r.resource_request);
        assert_eq!(decode("a%2Cb+c%"), "a,b c%");
    }
}
