//! Which fields of the built-in kinds merge how: the `patchStrategy` / `patchMergeKey` struct
//! tags kube-apiserver finds by reflection (apimachinery `pkg/util/strategicpatch/meta.go`,
//! `third_party/forked/golang/json/fields.go`), read once from the Go sources into
//! `patch_meta.json` by `patch_meta.py`.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::Failure;

/// One field whose JSON value is an object or an array (its tags and type).
#[derive(Debug, Default, Deserialize)]
pub struct Field {
    /// A struct type id, `map`, or absent for a scalar (or a custom-marshalled struct).
    #[serde(rename = "type")]
    ty: Option<String>,
    /// A Go slice: the JSON value is an array of `ty`.
    #[serde(default)]
    list: bool,
    /// The `patchStrategy` tag, e.g. `merge` or `merge,retainKeys`.
    strategy: Option<String>,
    /// The `patchMergeKey` tag.
    key: Option<String>,
}

type Fields = HashMap<String, Field>;

#[derive(Debug, Default, Deserialize)]
struct Table {
    /// `group/Kind` → struct type id.
    kinds: HashMap<String, String>,
    /// Struct type id → its object- or array-valued fields by JSON name.
    types: HashMap<String, Fields>,
}

static TABLE: LazyLock<Table> =
    LazyLock::new(|| serde_json::from_str(include_str!("patch_meta.json")).unwrap_or_default());

/// What the patch knows of the value at one place: the Go type's shape.
#[derive(Debug, Clone, Copy)]
pub enum Schema {
    /// A struct of the table.
    Struct(&'static Fields),
    /// A Go map: looking a field up in it fails, as it does upstream.
    Map,
    /// A scalar, a list, or a field the table does not know: no strategy, no merge key.
    Unknown,
}

/// A field's strategies and merge key (`PatchMeta`).
#[derive(Debug, Default)]
pub struct PatchMeta {
    /// The comma-separated strategies, split (one empty string when untagged, as Go splits).
    pub strategies: Vec<String>,
    /// The merge key, empty when none.
    pub key: String,
}

impl Schema {
    /// The schema of a built-in kind, `None` for kinds without Go types (custom resources).
    pub fn of_kind(group: &str, kind: &str) -> Option<Self> {
        let id = TABLE.kinds.get(&format!("{group}/{kind}"))?;
        TABLE.types.get(id).map(Schema::Struct)
    }

    /// Go's `reflect.Kind` name of the element type, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Schema::Map => "map",
            Schema::Struct(_) | Schema::Unknown => "struct",
        }
    }

    fn field(&self, key: &str) -> Result<Option<&'static Field>, Failure> {
        match self {
            Schema::Struct(fields) => Ok(fields.get(key)),
            Schema::Map => Err(Failure::Internal(
                "merging an object in json but data type is not struct, instead is: map".into(),
            )),
            Schema::Unknown => Ok(None),
        }
    }

    /// `LookupPatchMetadataForStruct`: the field's own type and its tags.
    pub fn for_struct(&self, key: &str) -> Result<(Schema, PatchMeta), Failure> {
        Ok(match self.field(key)? {
            Some(f) if !f.list => (of_type(f.ty.as_deref()), meta(f)),
            Some(f) => (Schema::Unknown, meta(f)),
            None => (Schema::Unknown, PatchMeta::default()),
        })
    }

    /// `LookupPatchMetadataForSlice`: the element type of a list field and its tags.
    pub fn for_slice(&self, key: &str) -> Result<(Schema, PatchMeta), Failure> {
        Ok(match self.field(key)? {
            Some(f) => (of_type(f.ty.as_deref()), meta(f)),
            None => (Schema::Unknown, PatchMeta::default()),
        })
    }
}

fn of_type(ty: Option<&str>) -> Schema {
    match ty {
        Some("map") => Schema::Map,
        Some(id) => TABLE
            .types
            .get(id)
            .map(Schema::Struct)
            .unwrap_or(Schema::Unknown),
        None => Schema::Unknown,
    }
}

fn meta(f: &Field) -> PatchMeta {
    PatchMeta {
        strategies: f
            .strategy
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(String::from)
            .collect(),
        key: f.key.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_served_builtin_kind() {
        for (group, kind) in [
            ("", "Pod"),
            ("", "Node"),
            ("", "Namespace"),
            ("", "ConfigMap"),
            ("", "ServiceAccount"),
            ("", "Event"),
            ("events.k8s.io", "Event"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("coordination.k8s.io", "Lease"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ] {
            assert!(Schema::of_kind(group, kind).is_some(), "{group}/{kind}");
        }
        assert!(Schema::of_kind("tether.dev", "NetworkProfile").is_none());
    }

    #[test]
    fn tags_read_as_upstream_declares_them() {
        let pod = Schema::of_kind("", "Pod").unwrap();
        let (spec, _) = pod.for_struct("spec").unwrap();
        let (_, volumes) = spec.for_slice("volumes").unwrap();
        assert_eq!(volumes.strategies, ["merge", "retainKeys"]);
        assert_eq!(volumes.key, "name");
        let (container, containers) = spec.for_slice("containers").unwrap();
        assert_eq!(
            (containers.strategies[0].as_str(), containers.key.as_str()),
            ("merge", "name")
        );
        let (_, env) = container.for_slice("env").unwrap();
        assert_eq!(env.key, "name");
        let (metadata, _) = pod.for_struct("metadata").unwrap();
        let (_, finalizers) = metadata.for_slice("finalizers").unwrap();
        assert_eq!(
            (finalizers.strategies[0].as_str(), finalizers.key.as_str()),
            ("merge", "")
        );
        let (_, owners) = metadata.for_slice("ownerReferences").unwrap();
        assert_eq!(owners.key, "uid");
        let (_, tolerations) = spec.for_slice("tolerations").unwrap();
        assert_eq!(tolerations.strategies, [""]);
    }
}
