//! Namespaces, ConfigMaps, ServiceAccounts and Leases: `printNamespace`,
//! `printConfigMap`, `printServiceAccount`, `printLease` of
//! `pkg/printers/internalversion/printers.go` (Kubernetes v1.34).

use serde_json::{Value, json};

use super::age::{self, Now};
use super::columns::{Column, Row, count, text};
use super::docs;

/// The Age cell: the time since `creationTimestamp`.
pub(super) fn age(o: &Value, now: Now) -> Value {
    json!(age::since(&o["metadata"]["creationTimestamp"], now))
}

/// NAME STATUS AGE.
pub fn namespace_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text("Status", "The status of the namespace"),
        Column::age(),
    ]
}

/// A namespace: its phase.
pub fn namespace_row(o: &Value, now: Now) -> Row {
    vec![
        o["metadata"]["name"].clone(),
        json!(text(&o["status"]["phase"])),
        age(o, now),
    ]
    .into()
}

/// NAME DATA AGE.
pub fn config_map_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text("Data", docs::CONFIG_MAP_DATA),
        Column::age(),
    ]
}

/// A ConfigMap: its number of `data` and `binaryData` keys.
pub fn config_map_row(o: &Value, now: Now) -> Row {
    vec![
        o["metadata"]["name"].clone(),
        json!(count(&o["data"]) + count(&o["binaryData"])),
        age(o, now),
    ]
    .into()
}

/// NAME SECRETS AGE.
pub fn service_account_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text("Secrets", docs::SERVICE_ACCOUNT_SECRETS),
        Column::age(),
    ]
}

/// A ServiceAccount: its number of listed secrets.
pub fn service_account_row(o: &Value, now: Now) -> Row {
    vec![
        o["metadata"]["name"].clone(),
        json!(count(&o["secrets"])),
        age(o, now),
    ]
    .into()
}

/// NAME HOLDER AGE.
pub fn lease_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text("Holder", docs::LEASE_HOLDER),
        Column::age(),
    ]
}

/// A Lease: its holder.
pub fn lease_row(o: &Value, now: Now) -> Row {
    vec![
        o["metadata"]["name"].clone(),
        json!(text(&o["spec"]["holderIdentity"])),
        age(o, now),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_phases_and_holders() {
        let now = age::parse(&json!("2025-01-01T00:00:10Z")).unwrap();
        let meta = json!({"name": "x", "creationTimestamp": "2025-01-01T00:00:00Z"});
        let cm = json!({"metadata": meta, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
        assert_eq!(
            config_map_row(&cm, now).cells[1..],
            [json!(3), json!("10s")]
        );
        let sa = json!({"metadata": meta});
        assert_eq!(service_account_row(&sa, now).cells[1], json!(0));
        let ns = json!({"metadata": meta, "status": {"phase": "Terminating"}});
        assert_eq!(namespace_row(&ns, now).cells[1], json!("Terminating"));
        let lease = json!({"metadata": meta, "spec": {"holderIdentity": "edge-1"}});
        assert_eq!(lease_row(&lease, now).cells[1], json!("edge-1"));
        assert_eq!(lease_row(&sa, now).cells[1], json!(""));
    }
}
