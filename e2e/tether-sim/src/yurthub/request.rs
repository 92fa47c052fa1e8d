//! What yurthub reads from a request before deciding anything: Kubernetes' RequestInfo
//! (shared with the API double), the client component, the list selector, the content
//! type it will answer with, and whether a bearer token is present.

use hyper::HeaderMap;
use hyper::header;

use crate::apiserver::request::{self, RequestInfo};

/// One request as yurthub's handler chain has annotated it (`proxy.go:123-147`).
#[derive(Debug, Clone)]
pub struct HubRequest {
    /// Verb, group, version, resource, subresource, namespace, name, query.
    pub info: RequestInfo,
    /// The User-Agent lower-cased, for resource requests only (`proxy/util/util.go:201-217`).
    pub client: Option<String>,
    /// Label and field selector of a list, normalised (`util.go:154-199`); empty if none.
    pub selector: String,
    /// The first media type of `Accept`, without parameters if it asks `as=…`
    /// (`util.go:121-152`).
    pub accept: String,
    /// Whether it carries `Authorization: Bearer …` (`proxy/remote/remote.go:139-148`).
    pub bearer: bool,
    /// The raw User-Agent.
    pub user_agent: String,
}

impl HubRequest {
    /// The component: the client lower-cased, cut at the first `/`
    /// (`pkg/yurthub/util/util.go:134-145`).
    pub fn component(&self) -> Option<&str> {
        self.client
            .as_deref()
            .map(|c| c.split('/').next().unwrap_or(c))
    }

    /// `<client> <verb> <resource>: <uri>`, as yurthub words requests in errors
    /// (`pkg/yurthub/util/util.go:201-209`).
    pub fn describe(&self, uri: &str) -> String {
        format!(
            "{} {} {}: {uri}",
            self.client.as_deref().unwrap_or_default(),
            self.info.verb,
            self.info.resource
        )
    }
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Annotate one request.
pub fn parse(method: &str, path: &str, query: &str, headers: &HeaderMap) -> HubRequest {
    let mut info = request::parse(method, path, query);
    if matches!(info.verb.as_str(), "list" | "watch") && info.name.is_empty() {
        // Kubernetes' RequestInfo names a list pinned by `metadata.name=` (yurthub relies on
        // it: cache_manager.go:519 "list with fieldSelector=metadata.name=xxx").
        if let Some(name) = info.q("fieldSelector").and_then(exact_name) {
            info.name = name;
        }
    }
    let user_agent = header(headers, header::USER_AGENT);
    let client =
        (info.resource_request && !user_agent.is_empty()).then(|| user_agent.to_lowercase());
    let selector = if info.resource_request && info.verb == "list" && info.name.is_empty() {
        selector_string(
            info.q("labelSelector").unwrap_or_default(),
            info.q("fieldSelector").unwrap_or_default(),
        )
    } else {
        String::new()
    };
    let accept = header(headers, header::ACCEPT);
    let first = accept.split(',').next().unwrap_or_default();
    let accept = if first.split(';').any(|p| p.contains("as=")) {
        first.split(';').next().unwrap_or_default()
    } else {
        first
    }
    .trim()
    .to_string();
    let auth = header(headers, header::AUTHORIZATION);
    let mut parts = auth.trim().split(' ');
    let bearer = matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(scheme), Some(_), None) if scheme.eq_ignore_ascii_case("bearer")
    );
    HubRequest {
        info,
        client,
        selector,
        accept,
        bearer,
        user_agent,
    }
}

/// `metadata.name=<x>` (or `==`) among a field selector's terms.
fn exact_name(fields: &str) -> Option<String> {
    fields.split(',').find_map(|t| {
        let t = t.trim();
        t.strip_prefix("metadata.name==")
            .or_else(|| t.strip_prefix("metadata.name="))
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(String::from)
    })
}

/// Split at commas outside parentheses (`a in (x,y),b` is two terms).
fn terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty())
        .collect()
}

/// The key of a label requirement: what precedes its operator.
fn term_key(t: &str) -> &str {
    let t = t.trim_start_matches('!');
    let end = t.find(['=', '!', ' ', '<', '>']).unwrap_or(t.len());
    &t[..end]
}

/// `labels&fields` as yurthub compares them: the label selector's requirements sorted by
/// key (Kubernetes' parser sorts them), the field selector's terms as given.
pub fn selector_string(labels: &str, fields: &str) -> String {
    let mut ls = terms(labels);
    ls.sort_by(|a, b| term_key(a).cmp(term_key(b)));
    let ls = ls.join(",");
    let fs = terms(fields).join(",");
    match (ls.is_empty(), fs.is_empty()) {
        (false, false) => format!("{ls}&{fs}"),
        (false, true) => ls,
        (true, false) => fs,
        (true, true) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, query: &str, ua: &str) -> HubRequest {
        let mut h = HeaderMap::new();
        if let Ok(v) = ua.parse() {
            h.insert(header::USER_AGENT, v);
        }
        if let Ok(v) = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json".parse() {
            h.insert(header::ACCEPT, v);
        }
        parse(method, path, query, &h)
    }

    #[test]
    fn component_is_the_user_agent_lower_cased_up_to_the_first_slash() {
        let r = req(
            "GET",
            "/api/v1/pods",
            "",
            "Tether-Agent/0.1.0 (linux/amd64)",
        );
        assert_eq!(
            r.client.as_deref(),
            Some("tether-agent/0.1.0 (linux/amd64)")
        );
        assert_eq!(r.component(), Some("tether-agent"));
        assert_eq!(r.accept, "application/json");
        assert_eq!(req("GET", "/version", "", "kubectl/v1").component(), None);
        assert_eq!(req("GET", "/api/v1/pods", "", "").component(), None);
    }

    #[test]
    fn list_selectors_are_normalised_and_a_name_pins_a_list() {
        let r = req(
            "GET",
            "/api/v1/pods",
            "labelSelector=b%3D1%2Ca+in+(x%2Cy)&fieldSelector=spec.nodeName%3Dedge-1",
            "a",
        );
        assert_eq!(r.selector, "a in (x,y),b=1&spec.nodeName=edge-1");
        let r = req(
            "GET",
            "/api/v1/namespaces/kube-system/configmaps",
            "fieldSelector=metadata.name%3Dyurt-hub-cfg",
            "a",
        );
        assert_eq!(
            (r.info.name.as_str(), r.selector.as_str()),
            ("yurt-hub-cfg", "")
        );
        assert_eq!(selector_string("", ""), "");
    }
}
