//! Label selectors (equality- and set-based) and field selectors.

use serde_json::Value;

use super::status::{ApiError, ApiResult};

/// One label requirement.
#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty selects everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && k.starts_with(|c: char| c.is_ascii_alphanumeric())
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn parse_set(rest: &str) -> Option<Vec<String>> {
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    let vals: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    vals.iter().all(|v| valid_value(v)).then_some(vals)
}

impl LabelSelector {
    /// Whether it selects everything (`labels.Selector.Empty`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parse the `labelSelector` query syntax.
    pub fn parse(s: &str) -> ApiResult<Self> {
        let bad = |term: &str| {
            ApiError::bad_request(format!(
                "unable to parse requirement: invalid label selector term {term:?}"
            ))
        };
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self(reqs));
        }
        for term in split_top(s) {
            let t = term.trim();
            let req = if let Some(k) = t.strip_prefix('!') {
                Req::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = t.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = t.split_once(" notin ") {
                Req::NotIn(k.trim().into(), parse_set(rest).ok_or_else(|| bad(t))?)
            } else if let Some((k, rest)) = t.split_once(" in ") {
                Req::In(k.trim().into(), parse_set(rest).ok_or_else(|| bad(t))?)
            } else {
                Req::Exists(t.to_string())
            };
            let (key, vals): (&str, Vec<&String>) = match &req {
                Req::Eq(k, v) | Req::Ne(k, v) => (k, vec![v]),
                Req::In(k, vs) | Req::NotIn(k, vs) => (k, vs.iter().collect()),
                Req::Exists(k) | Req::NotExists(k) => (k, vec![]),
            };
            if !valid_key(key) || !vals.iter().all(|v| valid_value(v)) {
                return Err(bad(t));
            }
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Build from a `LabelSelector` object (`matchLabels` / `matchExpressions`).
    pub fn from_object(sel: &Value) -> Self {
        let mut reqs = Vec::new();
        for (k, v) in sel["matchLabels"].as_object().into_iter().flatten() {
            reqs.push(Req::Eq(
                k.clone(),
                v.as_str().unwrap_or_default().to_string(),
            ));
        }
        for e in sel["matchExpressions"].as_array().into_iter().flatten() {
            let k = e["key"].as_str().unwrap_or_default().to_string();
            let vals: Vec<String> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            reqs.push(match e["operator"].as_str() {
                Some("In") => Req::In(k, vals),
                Some("NotIn") => Req::NotIn(k, vals),
                Some("Exists") => Req::Exists(k),
                _ => Req::NotExists(k),
            });
        }
        Self(reqs)
    }

    /// Whether an object's labels match.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::Ne(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// The canonical text of a selector, as Go's `labels.Selector.String()` writes it:
/// requirements sorted by key, set values sorted (apimachinery
/// `pkg/labels/selector.go`, `internalSelector.String` and `Requirement.String`).
impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = |r: &Req| match r {
            Req::Eq(k, _)
            | Req::Ne(k, _)
            | Req::In(k, _)
            | Req::NotIn(k, _)
            | Req::Exists(k)
            | Req::NotExists(k) => k.clone(),
        };
        let mut reqs = self.0.clone();
        reqs.sort_by_key(key);
        let set = |vs: &[String]| {
            let mut vs = vs.to_vec();
            vs.sort();
            vs.join(",")
        };
        let terms: Vec<String> = reqs
            .iter()
            .map(|r| match r {
                Req::Eq(k, v) => format!("{k}={v}"),
                Req::Ne(k, v) => format!("{k}!={v}"),
                Req::In(k, vs) => format!("{k} in ({})", set(vs)),
                Req::NotIn(k, vs) => format!("{k} notin ({})", set(vs)),
                Req::Exists(k) => k.clone(),
                Req::NotExists(k) => format!("!{k}"),
            })
            .collect();
        f.write_str(&terms.join(","))
    }
}

/// A parsed field selector: `(path, wanted, negated)` terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, String, bool)>);

/// The string value of a dotted field path, `""` when absent (as the real server does).
fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for part in path.split('.') {
        cur = &cur[part];
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl FieldSelector {
    /// Whether it selects everything (`fields.Selector.Empty`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parse `fieldSelector`, accepting only the labels the resource supports.
    pub fn parse(s: &str, allowed: &[String]) -> ApiResult<Self> {
        let mut terms = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self(terms));
        }
        for term in s.split(',') {
            let t = term.trim();
            let (k, v, neg) = if let Some((k, v)) = t.split_once("!=") {
                (k, v, true)
            } else if let Some((k, v)) = t.split_once("==") {
                (k, v, false)
            } else if let Some((k, v)) = t.split_once('=') {
                (k, v, false)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{t}'"
                )));
            };
            let k = k.trim();
            if k != "metadata.name" && k != "metadata.namespace" && !allowed.iter().any(|a| a == k)
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k}"
                )));
            }
            terms.push((k.to_string(), v.trim().to_string(), neg));
        }
        Ok(Self(terms))
    }

    /// Whether an object matches.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0
            .iter()
            .all(|(k, v, neg)| (field_value(obj, k) == *v) != *neg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_equality_and_sets() {
        let o = json!({"metadata": {"labels": {"app": "camera", "tier": "edge"}}});
        for (sel, want) in [
            ("app=camera", true),
            ("app==camera,tier=edge", true),
            ("app!=camera", false),
            ("app in (camera, radar)", true),
            ("app notin (camera)", false),
            ("tier", true),
            ("!tier", false),
            ("!zone", true),
            ("zone notin (a)", true),
            ("app in (x),tier", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("app in camera").is_err());
        assert!(LabelSelector::parse("a b c=d").is_err());
    }

    #[test]
    fn selectors_print_sorted_as_go_prints_them() {
        let sel = LabelSelector::from_object(&json!({"matchLabels": {"z": "1", "a": "2"},
            "matchExpressions": [{"key": "m", "operator": "In", "values": ["y", "x"]},
                                 {"key": "b", "operator": "DoesNotExist"}]}));
        assert_eq!(sel.to_string(), "a=2,!b,m in (x,y),z=1");
    }

    #[test]
    fn field_selectors() {
        let pod =
            json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "edge-1"}});
        let allowed = vec!["spec.nodeName".to_string(), "status.phase".to_string()];
        assert!(
            FieldSelector::parse("spec.nodeName=edge-1", &allowed)
                .unwrap()
                .matches(&pod)
        );
        assert!(
            !FieldSelector::parse("spec.nodeName!=edge-1", &allowed)
                .unwrap()
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("status.phase=", &allowed)
                .unwrap()
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("metadata.name=p,metadata.namespace=ns", &[])
                .unwrap()
                .matches(&pod)
        );
        let e = FieldSelector::parse("spec.bogus=1", &allowed).unwrap_err();
        assert_eq!(e.message, "field label not supported: spec.bogus");
    }
}
