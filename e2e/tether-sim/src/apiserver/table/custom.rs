//! Custom resources: the CRD version's `additionalPrinterColumns`, evaluated as
//! apiextensions-apiserver's `tableconvertor.go` does.

use serde_json::{Value, json};

use super::age::{self, Now};
use super::columns::{Column, Row};
use super::docs;
use super::jsonpath::Path;

/// One `additionalPrinterColumns` entry, its path parsed.
#[derive(Clone, Debug)]
pub struct CustomColumn {
    /// The definition served in `columnDefinitions`.
    pub column: Column,
    /// Its `jsonPath`; `None` if the double cannot evaluate it (cells are null).
    pub path: Option<Path>,
}

/// The columns served for `version` of a stored CRD: its `additionalPrinterColumns`, or
/// the Age column when it declares none (`serveDefaultColumnsIfEmpty`).
pub fn columns(crd: &Value, version: &str) -> Vec<CustomColumn> {
    let declared = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == version)
        .and_then(|v| v["additionalPrinterColumns"].as_array())
        .filter(|c| !c.is_empty());
    let Some(declared) = declared else {
        return vec![CustomColumn {
            column: Column::new("Age", "date", docs::OBJECT_CREATED),
            path: Path::parse(".metadata.creationTimestamp").ok(),
        }];
    };
    declared
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default();
            let json_path = s("jsonPath");
            let description = match s("description") {
                "" => {
                    format!("Custom resource definition column (in JSONPath format): {json_path}")
                }
                d => d.to_string(),
            };
            CustomColumn {
                column: Column {
                    format: s("format").into(),
                    priority: c["priority"].as_i64().unwrap_or(0),
                    ..Column::new(s("name"), s("type"), &description)
                },
                path: Path::parse(json_path).ok(),
            }
        })
        .collect()
}

/// The cells of one custom object: its name, then one cell per column.
pub fn row(columns: &[CustomColumn], o: &Value, now: Now) -> Row {
    let mut cells = vec![o["metadata"]["name"].clone()];
    for c in columns {
        let found = c.path.as_ref().and_then(|p| p.first(o));
        cells.push(match found {
            None => Value::Null,
            Some(v) if c.column.kind == "string" => json!(print(v)),
            Some(v) => cell(&c.column.kind, v, now),
        });
    }
    cells.into()
}

/// `cellForJSONValue`: a typed cell, null when the value does not fit the type.
pub fn cell(kind: &str, v: &Value, now: Now) -> Value {
    match (kind, v) {
        ("integer", Value::Number(n)) => n
            .as_i64()
            // Go converts float64 to int64 by truncation.
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            .map_or(Value::Null, |i| json!(i)),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, |f| json!(f)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => json!(date(s, now)),
        _ => Value::Null,
    }
}

/// A `date` cell: `metav1.Time.UnmarshalQueryParameter`, then the age.
fn date(s: &str, now: Now) -> String {
    if s.is_empty() || s == "null" {
        return "<unknown>".into();
    }
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(_) => age::since(&json!(s), now),
        Err(_) => "<invalid>".into(),
    }
}

/// What client-go's `PrintResults` writes for one value: maps and arrays as compact
/// JSON, strings as they are, other scalars as Go's `fmt.Fprint`, null as `<no value>`.
pub fn print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        // Go's encoder escapes HTML characters; serde_json sorts keys as Go does.
        Value::Array(_) | Value::Object(_) => v
            .to_string()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026"),
    }
}

/// Go's `%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e21.
fn go_float(f: f64) -> String {
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if f != 0.0 && !(-4..21).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        age::parse(&json!("2025-01-01T12:00:00Z")).unwrap()
    }

    fn crd(columns: Value) -> Value {
        json!({"spec": {"versions": [{"name": "v1", "additionalPrinterColumns": columns}]}})
    }

    #[test]
    fn typed_cells_follow_cell_for_json_value() {
        let n = now();
        assert_eq!(cell("integer", &json!(7), n), json!(7));
        assert_eq!(cell("integer", &json!(7.9), n), json!(7));
        assert_eq!(cell("integer", &json!("7"), n), Value::Null);
        assert_eq!(cell("number", &json!(2), n), json!(2.0));
        assert_eq!(cell("boolean", &json!(true), n), json!(true));
        assert_eq!(cell("boolean", &json!("true"), n), Value::Null);
        assert_eq!(
            cell("date", &json!("2025-01-01T11:00:00Z"), n),
            json!("60m")
        );
        assert_eq!(cell("date", &json!("yesterday"), n), json!("<invalid>"));
        assert_eq!(cell("date", &json!(""), n), json!("<unknown>"));
        assert_eq!(cell("date", &json!(5), n), Value::Null);
        assert_eq!(cell("object", &json!({}), n), Value::Null);
    }

    #[test]
    fn string_cells_print_like_client_go() {
        assert_eq!(print(&json!("a")), "a");
        assert_eq!(print(&json!(5)), "5");
        assert_eq!(print(&json!(1.5)), "1.5");
        assert_eq!(print(&json!(1e21)), "1e+21");
        assert_eq!(print(&json!(0.00001)), "1e-05");
        assert_eq!(print(&json!(false)), "false");
        assert_eq!(print(&Value::Null), "<no value>");
        assert_eq!(
            print(&json!({"b": 1, "a": "<x>"})),
            r#"{"a":"\u003cx\u003e","b":1}"#
        );
    }

    #[test]
    fn rows_take_name_then_columns_and_null_for_missing() {
        let cols = columns(
            &crd(json!([
                {"name": "Priority", "type": "integer", "jsonPath": ".spec.priority"},
                {"name": "Pods", "type": "integer", "jsonPath": ".status.matchedPods", "priority": 1},
                {"name": "Mode", "type": "string", "jsonPath": ".spec.mode", "description": "how"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ])),
            "v1",
        );
        let defs: Vec<(String, i64, String)> = cols
            .iter()
            .map(|c| {
                (
                    c.column.name.clone(),
                    c.column.priority,
                    c.column.description.clone(),
                )
            })
            .collect();
        assert_eq!(defs[1].1, 1);
        assert_eq!(defs[2].2, "how");
        assert_eq!(
            defs[0].2,
            "Custom resource definition column (in JSONPath format): .spec.priority"
        );
        let o = json!({"metadata": {"name": "camera", "creationTimestamp": "2025-01-01T11:55:00Z"},
                       "spec": {"priority": 10, "mode": {"x": 1}}});
        assert_eq!(
            row(&cols, &o, now()).cells,
            vec![
                json!("camera"),
                json!(10),
                Value::Null,
                json!(r#"{"x":1}"#),
                json!("5m")
            ]
        );
    }

    #[test]
    fn a_version_without_columns_gets_age() {
        for c in [
            crd(json!([])),
            json!({"spec": {"versions": [{"name": "v1"}]}}),
        ] {
            let cols = columns(&c, "v1");
            assert_eq!(cols.len(), 1);
            assert_eq!(
                (cols[0].column.name.as_str(), cols[0].column.kind.as_str()),
                ("Age", "date")
            );
        }
    }
}
