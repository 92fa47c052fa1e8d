//! Values as Go's `fmt` prints the decoded JSON (`map[string]interface{}` …) in the
//! strategic-merge-patch error messages (apimachinery `pkg/util/mergepatch/errors.go`).

use serde_json::Value;

/// `%v`: `map[a:1 b:[x y]]`, keys sorted as fmt sorts them; null is `<nil>`.
pub fn v(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let entries: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", v(&m[k.as_str()])))
                .collect();
            format!("map[{}]", entries.join(" "))
        }
    }
}

/// `%s`: strings as they are, anything else as fmt's bad-verb form `%!s(float64=1)`.
pub fn s(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".into(),
        other => format!("%!s({}={})", type_name(other), v(other)),
    }
}

/// `reflect.TypeOf(x).String()` of a decoded JSON value (ints decode as int64).
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn prints_as_go_does() {
        assert_eq!(
            super::v(&json!({"uid": "b", "name": "x", "list": [1, "a", null]})),
            "map[list:[1 a <nil>] name:x uid:b]"
        );
        assert_eq!(super::s(&json!(1)), "%!s(int64=1)");
        assert_eq!(super::s(&json!("foo")), "foo");
    }
}
