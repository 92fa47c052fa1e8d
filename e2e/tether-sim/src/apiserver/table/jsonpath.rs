//! The simple JSONPaths of `additionalPrinterColumns`, evaluated as client-go's
//! `util/jsonpath` does with missing keys allowed: fields (`.a.b`, `\.` escapes a dot,
//! `['a']`), indices and slices (`[0]`, `[-1]`, `[1:3]`, `[::2]`, `[*]`), and `.*`.
//! Filters, recursive descent and unions are not supported (see the README).

use serde_json::Value;

/// One step of a path.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    /// A map key.
    Field(String),
    /// `[start:end:step]`; `[n]` is `n:n+1` with the end derived.
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        end_derived: bool,
        step: Option<i64>,
    },
    /// `.*`: every value of a map or array.
    Wildcard,
}

/// A parsed path.
#[derive(Clone, Debug, PartialEq)]
pub struct Path(Vec<Step>);

/// Why a path cannot be used.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("unsupported JSONPath {path:?}: {why}")]
pub struct PathError {
    /// The path.
    pub path: String,
    /// What is wrong or not supported.
    pub why: &'static str,
}

impl Path {
    /// Parse a column's `jsonPath` (the part client-go puts between `{` and `}`).
    pub fn parse(path: &str) -> Result<Self, PathError> {
        let err = |why| PathError {
            path: path.to_string(),
            why,
        };
        if path.contains("..") || path.contains("[?") {
            return Err(err("recursive descent and filters are not supported"));
        }
        let chars: Vec<char> = path.chars().collect();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    let mut name = String::new();
                    i += 1;
                    while i < chars.len() && !ends_field(chars[i]) {
                        if chars[i] == '\\' {
                            i += 1;
                        }
                        name.extend(chars.get(i));
                        i += 1;
                    }
                    steps.push(if name == "*" {
                        Step::Wildcard
                    } else {
                        Step::Field(name)
                    });
                }
                '[' => {
                    let close = chars[i..]
                        .iter()
                        .position(|c| *c == ']')
                        .ok_or_else(|| err("unterminated array"))?;
                    let inner: String = chars[i + 1..i + close].iter().collect();
                    steps.extend(bracket(&inner).ok_or_else(|| err("invalid array index"))?);
                    i += close + 1;
                }
                ' ' | '@' | '$' => i += 1,
                _ => return Err(err("unrecognized character")),
            }
        }
        Ok(Self(steps))
    }

    /// The first result, as `tableconvertor.go` takes it; `None` when nothing matches or
    /// the evaluation fails (an index out of range, an index into a non-array).
    pub fn first<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut current = vec![root];
        for step in &self.0 {
            current = eval(step, current)?;
        }
        current.into_iter().next()
    }
}

fn ends_field(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}' | ' ' | '\t' | '\r' | '\n'
    )
}

/// `['key']` (re-read as `.key`, so dots in it still split), `*`, or a slice.
fn bracket(inner: &str) -> Option<Vec<Step>> {
    if inner.contains(',') {
        return None; // unions
    }
    if let Some(key) = inner.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')) {
        return Path::parse(&format!(".{key}")).ok().map(|p| p.0);
    }
    let inner = if inner == "*" { ":" } else { inner };
    let parts: Vec<&str> = inner.split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    let num = |s: &str| -> Option<Option<i64>> {
        if s.is_empty() {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    let start = num(parts[0])?;
    let (end, end_derived) = match parts.get(1) {
        Some(e) => (num(e)?, false),
        None => (Some(start.unwrap_or(0) + 1), true),
    };
    let step = match parts.get(2) {
        Some(s) => num(s)?,
        None => None,
    };
    Some(vec![Step::Slice {
        start,
        end,
        end_derived,
        step,
    }])
}

fn eval<'a>(step: &Step, input: Vec<&'a Value>) -> Option<Vec<&'a Value>> {
    let mut out = Vec::new();
    for v in input.into_iter().filter(|v| !v.is_null()) {
        match step {
            Step::Field(name) => out.extend(v.as_object().and_then(|m| m.get(name))),
            Step::Wildcard => match v {
                Value::Object(m) => out.extend(m.values()),
                Value::Array(a) => out.extend(a.iter()),
                _ => {}
            },
            Step::Slice {
                start,
                end,
                end_derived,
                step,
            } => {
                let a = v.as_array()?;
                let len = i64::try_from(a.len()).ok()?;
                let mut s = start.unwrap_or(0);
                if s < 0 {
                    s += len;
                }
                let mut e = end.unwrap_or(len);
                if e < 0 || (e == 0 && *end_derived) {
                    e += len;
                }
                if s == e {
                    // client-go returns at once here, dropping any other inputs.
                    return Some(out);
                }
                if s >= len || s < 0 || e > len || e < 0 || s > e {
                    return None;
                }
                let step = match step {
                    Some(k) if *k <= 0 => return None,
                    Some(k) => usize::try_from(*k).ok()?,
                    None => 1,
                };
                let (s, e) = (usize::try_from(s).ok()?, usize::try_from(e).ok()?);
                out.extend(a[s..e].iter().step_by(step));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn first(path: &str, v: &Value) -> Option<Value> {
        Path::parse(path).unwrap().first(v).cloned()
    }

    #[test]
    fn fields_indices_and_slices_take_the_first_result() {
        let v = json!({"spec": {"priority": 5, "list": [{"n": "a"}, {"n": "b"}, {"n": "c"}],
                                 "labels": {"app.kubernetes.io/name": "x"}, "gone": null}});
        assert_eq!(first(".spec.priority", &v), Some(json!(5)));
        assert_eq!(first(".spec.list[1].n", &v), Some(json!("b")));
        assert_eq!(first(".spec.list[-1].n", &v), Some(json!("c")));
        assert_eq!(first(".spec.list[*].n", &v), Some(json!("a")));
        assert_eq!(first(".spec.list[1:].n", &v), Some(json!("b")));
        assert_eq!(first(".spec.list[::2]", &v), Some(json!({"n": "a"})));
        assert_eq!(first(".spec['priority']", &v), Some(json!(5)));
        assert_eq!(
            first(r".spec.labels.app\.kubernetes\.io/name", &v),
            Some(json!("x"))
        );
        assert_eq!(first(".spec.gone", &v), Some(Value::Null));
    }

    #[test]
    fn missing_fields_and_bad_indices_give_nothing() {
        let v = json!({"spec": {"list": [1], "n": 3, "gone": null}});
        for path in [
            ".status.matchedPods",
            ".spec.n.deeper",
            ".spec.gone.deeper",
            ".spec.list[3]",
            ".spec.n[0]",
        ] {
            assert_eq!(first(path, &v), None, "{path}");
        }
        // An empty slice ends the evaluation with no result.
        assert_eq!(first(".spec.list[0:0]", &v), None);
    }

    #[test]
    fn unsupported_paths_are_refused() {
        for path in ["..name", ".a[?(@.x)]", ".a[0,1]", ".a[x]", ".a[0"] {
            assert!(Path::parse(path).is_err(), "{path}");
        }
    }
}
