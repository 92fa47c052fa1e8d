//! `meta.k8s.io/v1` Table answers, which `kubectl get` asks for to print columns: the
//! envelope (`includeObject`, list metadata, headers once per watch) around one printer per
//! resource — the built-in printers of Kubernetes v1.34 (`table/pods.rs`, …), a CRD
//! version's `additionalPrinterColumns` (`table/custom.rs`), or the default Name/Created At.

mod access;
mod age;
mod columns;
mod config;
mod custom;
mod docs;
mod events;
mod jsonpath;
mod nodes;
mod pods;
mod workloads;

use std::cmp::Ordering;
use std::sync::atomic::{self, AtomicBool};

use serde_json::{Value, json};

use self::age::Now;
use self::columns::{Column, Row};
use self::custom::CustomColumn;
use super::convert;
use super::resources::ResourceType;
use super::state::State;
use super::status::{ApiError, ApiResult};
use super::store::Key;

/// What each row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    /// `None`: `object` is null.
    Nothing,
    /// `Metadata` (the default): a PartialObjectMetadata.
    Metadata,
    /// `Object`: the whole object.
    Object,
}

impl Include {
    /// Parse `includeObject`; an unknown value is a 400, as on the real server.
    pub fn parse(q: Option<&str>) -> ApiResult<Self> {
        match q.unwrap_or_default() {
            "" | "Metadata" => Ok(Self::Metadata),
            "None" => Ok(Self::Nothing),
            "Object" => Ok(Self::Object),
            other => Err(ApiError::bad_request(format!(
                "unrecognized includeObject value: {other:?}"
            ))),
        }
    }
}

/// How the cells of one row are computed.
enum Cells {
    /// A built-in printer.
    Builtin(fn(&Value, Now) -> Row),
    /// The same, on the stored (core v1) form of an events.k8s.io/v1 Event.
    NewEvent(Box<ResourceType>),
    /// `additionalPrinterColumns`.
    Custom(Vec<CustomColumn>),
    /// The default table convertor: name and creationTimestamp (RFC 3339).
    Default,
}

/// The columns and cells of one resource.
struct Printer {
    columns: Vec<Column>,
    cells: Cells,
    /// The order a list's rows are printed in, when not the list's.
    order: Option<fn(&Value, &Value) -> Ordering>,
}

impl Printer {
    fn builtin(columns: Vec<Column>, cells: fn(&Value, Now) -> Row) -> Self {
        Self {
            columns,
            cells: Cells::Builtin(cells),
            order: None,
        }
    }

    /// The printer the real server has for `rt`.
    fn for_resource(st: &State, rt: &ResourceType) -> Self {
        if rt.custom {
            let crd = st.store.get(&Key::new(
                "apiextensions.k8s.io/customresourcedefinitions",
                "",
                &format!("{}.{}", rt.plural, rt.group),
            ));
            let custom = custom::columns(&crd.unwrap_or_default(), &rt.version);
            let mut columns = vec![Column::name()];
            columns.extend(custom.iter().map(|c| c.column.clone()));
            return Self {
                columns,
                cells: Cells::Custom(custom),
                order: None,
            };
        }
        match rt.id().as_str() {
            "/pods" => Self::builtin(pods::columns(), pods::row),
            "/nodes" => Self::builtin(nodes::columns(), nodes::row),
            "/events" if rt.group == "events.k8s.io" => Self {
                columns: events::columns(),
                cells: Cells::NewEvent(Box::new(rt.clone())),
                order: None,
            },
            "/events" => Self::builtin(events::columns(), events::row),
            "/namespaces" => Self::builtin(config::namespace_columns(), config::namespace_row),
            "/configmaps" => Self::builtin(config::config_map_columns(), config::config_map_row),
            "/serviceaccounts" => Self::builtin(
                config::service_account_columns(),
                config::service_account_row,
            ),
            "apps/deployments" => {
                Self::builtin(workloads::deployment_columns(), workloads::deployment_row)
            }
            "apps/daemonsets" => {
                Self::builtin(workloads::daemon_set_columns(), workloads::daemon_set_row)
            }
            "apps/replicasets" => {
                Self::builtin(workloads::replica_set_columns(), workloads::replica_set_row)
            }
            "apps/statefulsets" => Self::builtin(
                workloads::stateful_set_columns(),
                workloads::stateful_set_row,
            ),
            "/services" => Self::builtin(workloads::service_columns(), workloads::service_row),
            "batch/jobs" => Self::builtin(workloads::job_columns(), workloads::job_row),
            "batch/cronjobs" => {
                Self::builtin(workloads::cron_job_columns(), workloads::cron_job_row)
            }
            "coordination.k8s.io/leases" => {
                Self::builtin(config::lease_columns(), config::lease_row)
            }
            "rbac.authorization.k8s.io/rolebindings" => {
                Self::builtin(access::binding_columns(false), access::binding_row)
            }
            "rbac.authorization.k8s.io/clusterrolebindings" => {
                Self::builtin(access::binding_columns(true), access::binding_row)
            }
            "admissionregistration.k8s.io/validatingadmissionpolicies" => {
                Self::builtin(access::policy_columns(), access::policy_row)
            }
            "admissionregistration.k8s.io/validatingadmissionpolicybindings" => {
                Self::builtin(access::policy_binding_columns(), access::policy_binding_row)
            }
            "flowcontrol.apiserver.k8s.io/flowschemas" => Self {
                order: Some(access::flow_schema_order),
                ..Self::builtin(access::flow_schema_columns(), access::flow_schema_row)
            },
            "flowcontrol.apiserver.k8s.io/prioritylevelconfigurations" => {
                Self::builtin(access::priority_level_columns(), access::priority_level_row)
            }
            // Roles, ClusterRoles, CRDs: `rest.NewDefaultTableConvertor` on the real server.
            _ => Self {
                columns: vec![
                    Column::name(),
                    Column::new("Created At", "date", docs::OBJECT_CREATED),
                ],
                cells: Cells::Default,
                order: None,
            },
        }
    }

    fn row(&self, o: &Value, now: Now) -> Row {
        match &self.cells {
            Cells::Builtin(f) => f(o, now),
            Cells::NewEvent(rt) => events::row(&convert::to_storage(rt, o.clone()), now),
            Cells::Custom(columns) => custom::row(columns, o, now),
            Cells::Default => {
                let created = age::parse(&o["metadata"]["creationTimestamp"])
                    .map_or("0001-01-01T00:00:00Z".into(), |t| {
                        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    });
                vec![o["metadata"]["name"].clone(), json!(created)].into()
            }
        }
    }
}

/// A Table answer being built for one request: the resource's printer and `includeObject`.
pub struct TableRequest {
    printer: Printer,
    include: Include,
    /// Set once a watch has sent the column definitions (later events omit them).
    headers_sent: AtomicBool,
}

impl TableRequest {
    /// The Table answer for a request on `rt` with `includeObject` = `include`.
    pub fn new(st: &State, rt: &ResourceType, include: Option<&str>) -> ApiResult<Self> {
        Ok(Self {
            printer: Printer::for_resource(st, rt),
            include: Include::parse(include)?,
            headers_sent: AtomicBool::new(false),
        })
    }

    fn row(&self, o: &Value, now: Now) -> Value {
        let Row { cells, conditions } = self.printer.row(o, now);
        let object = match self.include {
            Include::Object => o.clone(),
            Include::Metadata => {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
            }
            Include::Nothing => Value::Null,
        };
        let mut row = json!({"cells": cells, "object": object});
        if !conditions.is_empty() {
            row["conditions"] = json!(conditions);
        }
        row
    }

    fn table(&self, metadata: Value, rows: Vec<Value>, headers: bool) -> Value {
        // Without headers the real server still writes the field, as null.
        let defs = headers.then(|| {
            let defs: Vec<Value> = self.printer.columns.iter().map(Column::to_json).collect();
            defs
        });
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
               "columnDefinitions": defs, "rows": rows})
    }

    /// A Table of one object, ages as of now.
    pub fn of_object(&self, o: &Value) -> Value {
        let rows = vec![self.row(o, chrono::Utc::now())];
        let meta = json!({"resourceVersion": o["metadata"]["resourceVersion"]});
        self.table(meta, rows, true)
    }

    /// A Table of a list (its resourceVersion, continue and remainingItemCount kept).
    pub fn of_list(&self, l: &Value) -> Value {
        let now = chrono::Utc::now();
        let mut items: Vec<&Value> = l["items"].as_array().into_iter().flatten().collect();
        if let Some(order) = self.printer.order {
            items.sort_by(|a, b| order(a, b));
        }
        let rows = items.into_iter().map(|o| self.row(o, now)).collect();
        self.table(l["metadata"].clone(), rows, true)
    }

    /// The Table of one watch event's object: the first of a watch carries the column
    /// definitions, later ones none (`watchEmbeddedEncoder`).
    pub fn of_watch_event(&self, o: &Value) -> Value {
        let first = !self.headers_sent.swap(true, atomic::Ordering::Relaxed);
        let meta = json!({"resourceVersion": o["metadata"]["resourceVersion"]});
        self.table(meta, vec![self.row(o, chrono::Utc::now())], first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(printer: Printer, include: Include) -> TableRequest {
        TableRequest {
            printer,
            include,
            headers_sent: AtomicBool::new(false),
        }
    }

    fn default_printer() -> Printer {
        Printer {
            columns: vec![Column::name()],
            cells: Cells::Default,
            order: None,
        }
    }

    #[test]
    fn include_object_values() {
        assert_eq!(Include::parse(None).unwrap(), Include::Metadata);
        assert_eq!(Include::parse(Some("None")).unwrap(), Include::Nothing);
        assert_eq!(Include::parse(Some("Object")).unwrap(), Include::Object);
        assert_eq!(Include::parse(Some("All")).unwrap_err().code, 400);
    }

    #[test]
    fn rows_carry_what_include_object_asks() {
        let o = json!({"kind": "Role", "metadata": {"name": "r", "resourceVersion": "7",
                       "creationTimestamp": "2025-01-01T00:00:00.000Z"}, "rules": []});
        let t = request(default_printer(), Include::Metadata).of_object(&o);
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        assert_eq!(t["rows"][0]["cells"], json!(["r", "2025-01-01T00:00:00Z"]));
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert!(t["rows"][0]["object"].get("rules").is_none());
        let t = request(default_printer(), Include::Object).of_object(&o);
        assert_eq!(t["rows"][0]["object"], o);
        let t = request(default_printer(), Include::Nothing).of_object(&o);
        assert_eq!(t["rows"][0]["object"], Value::Null);
    }

    #[test]
    fn a_watch_sends_headers_once() {
        let t = request(default_printer(), Include::Metadata);
        let o = json!({"metadata": {"name": "a"}});
        assert!(t.of_watch_event(&o)["columnDefinitions"].is_array());
        let later = t.of_watch_event(&o);
        assert!(later["columnDefinitions"].is_null() && later["rows"][0]["cells"][0] == "a");
    }

    #[test]
    fn flow_schema_lists_are_sorted_by_precedence() {
        let printer = Printer {
            order: Some(access::flow_schema_order),
            ..Printer::builtin(access::flow_schema_columns(), access::flow_schema_row)
        };
        let l = json!({"metadata": {"resourceVersion": "9"}, "items": [
            {"metadata": {"name": "global-default"}, "spec": {"matchingPrecedence": 9900}},
            {"metadata": {"name": "exempt"}, "spec": {"matchingPrecedence": 1}}]});
        let t = request(printer, Include::Metadata).of_list(&l);
        assert_eq!(t["rows"][0]["cells"][0], "exempt");
        assert_eq!(t["metadata"]["resourceVersion"], "9");
        assert_eq!(t["columnDefinitions"][2]["name"], "MatchingPrecedence");
    }
}
