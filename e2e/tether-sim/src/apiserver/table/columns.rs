//! Column definitions and rows, as `metav1.TableColumnDefinition` and `metav1.TableRow`.

use serde_json::{Value, json};

use super::docs;

/// One column of a Table (`metav1.TableColumnDefinition`).
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Header kubectl prints (upper-cased by kubectl).
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    pub kind: String,
    /// OpenAPI format (`name` marks the object's name column).
    pub format: String,
    /// What the column shows.
    pub description: String,
    /// 0 = always printed; 1 and more = only with `-o wide`.
    pub priority: i64,
}

impl Column {
    /// A column of type `kind` shown by default.
    pub fn new(name: &str, kind: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            format: String::new(),
            description: description.into(),
            priority: 0,
        }
    }

    /// A `string` column shown by default.
    pub fn text(name: &str, description: &str) -> Self {
        Self::new(name, "string", description)
    }

    /// The same column, printed only with `-o wide` (priority 1).
    pub fn wide(self) -> Self {
        Self {
            priority: 1,
            ..self
        }
    }

    /// The `Name` column every printer starts with.
    pub fn name() -> Self {
        Self {
            format: "name".into(),
            ..Self::text("Name", docs::OBJECT_NAME)
        }
    }

    /// The `Age` column of the built-in printers (a string cell such as `5m`).
    pub fn age() -> Self {
        Self::text("Age", docs::OBJECT_CREATED)
    }

    /// The JSON of the definition.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "type": self.kind, "format": self.format,
               "description": self.description, "priority": self.priority})
    }
}

/// The cells of one row, and the row's conditions (pods that completed carry one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// One cell per column definition.
    pub cells: Vec<Value>,
    /// `metav1.TableRowCondition`s, if any.
    pub conditions: Vec<Value>,
}

impl From<Vec<Value>> for Row {
    fn from(cells: Vec<Value>) -> Self {
        Self {
            cells,
            conditions: Vec::new(),
        }
    }
}

/// The string at `v`, or `""` (what a Go printer sees for an unset string field).
pub fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The number of entries of the array or map at `v` (0 when unset).
pub fn count(v: &Value) -> i64 {
    let n = match v {
        Value::Array(a) => a.len(),
        Value::Object(m) => m.len(),
        _ => 0,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}
