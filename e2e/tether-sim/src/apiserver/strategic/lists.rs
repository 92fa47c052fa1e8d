//! Lists under strategic merge patch: merged by key or as sets, `$patch` items,
//! `$deleteFromPrimitiveList`, and the order of the result (`$setElementOrder`, then the
//! patch's order, then the live object's) — `mergeSlice`, `mergePatchIntoOriginal`,
//! `normalizeElementOrder` of apimachinery v0.34.1 `pkg/util/strategicpatch/patch.go`.

use serde_json::{Map, Value};

use super::meta::Schema;
use super::{
    DIRECTIVE, Failure, SET_ELEMENT_ORDER, bad_arg_type, bad_patch_type, extract_key, go_fmt,
    merge_map, no_merge_key, remove_directives, retain_keys_strategy,
};

/// What the items of a list are (Go's `reflect.Kind` of the element type).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Items {
    Maps,
    Scalars,
}

/// `mergeSliceHandler`: merge for the `merge` strategy (and deletion lists), else replace.
pub(super) fn merge_by_strategy(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    strategy: &str,
    key: &str,
    delete_list: bool,
) -> Result<Vec<Value>, Failure> {
    if strategy == "merge" || delete_list {
        merge_slice(original, patch, schema, key, delete_list)
    } else {
        Ok(patch)
    }
}

/// `sliceElementType`: all items of both lists must share one type, and not be lists.
fn element_kind(lists: &[&[Value]]) -> Result<Items, Failure> {
    let mut first: Option<&Value> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        match first {
            None if item.is_array() => {
                return Err(Failure::Invalid);
            }
            None if item.is_null() => {
                return Err(Failure::Internal(
                    "This request caused apiserver to panic. Look in the logs for details.".into(),
                ));
            }
            None => first = Some(item),
            Some(f) if go_fmt::type_name(f) != go_fmt::type_name(item) => {
                let all: Vec<String> = lists
                    .iter()
                    .map(|l| go_fmt::v(&Value::Array(l.to_vec())))
                    .collect();
                return Err(Failure::Internal(format!(
                    "list element types are not identical: [{}]",
                    all.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    match first {
        Some(Value::Object(_)) => Ok(Items::Maps),
        Some(_) => Ok(Items::Scalars),
        None => Err(Failure::Internal(
            "no elements in any of the given slices".into(),
        )),
    }
}

/// `mergeSlice`.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    key: &str,
    delete_list: bool,
) -> Result<Vec<Value>, Failure> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_kind(&[&original, &patch])?;
    if kind == Items::Scalars {
        if delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::new();
        for v in original.iter().chain(&patch) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        let (ours, server_only) = merged.into_iter().partition(|v| patch.contains(v));
        return normalize(ours, server_only, &patch, &original, key, kind);
    }
    if key.is_empty() {
        return Err(Failure::Internal(format!(
            "cannot merge lists without merge key for {}",
            schema.name()
        )));
    }
    let (original, patch) = apply_special_items(original, patch, key)?;
    let mut merged = original.clone();
    for item in &patch {
        let Value::Object(p) = item else {
            return Err(bad_arg_type("map[string]interface {}", item));
        };
        let wanted = p.get(key).ok_or_else(|| no_merge_key(p, key))?;
        match find_by_key(&merged, key, wanted)? {
            Some(i) => {
                let current = match merged[i].take() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                merged[i] = Value::Object(merge_map(current, p.clone(), schema)?);
            }
            None => merged.push(item.clone()),
        }
    }
    let (ours, server_only) = partition_maps(merged, &patch, key)?;
    normalize(ours, server_only, &patch, &original, key, kind)
}

/// `mergeSliceWithSpecialElements`: `$patch: delete` items remove the live items of their
/// key, `$patch: replace` makes the other items the whole list.
fn apply_special_items(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), Failure> {
    let mut plain = Vec::new();
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        let Value::Object(m) = &item else {
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let wanted = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
                while let Some(i) = find_by_key(&original, key, wanted)? {
                    original.remove(i);
                }
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(Failure::Internal(
                    "merging lists cannot yet be specified in the patch".into(),
                ));
            }
            _ => return Err(bad_patch_type(directive, m)),
        }
    }
    Ok(if replace {
        (plain, Vec::new())
    } else {
        (original, plain)
    })
}

/// `findMapInSliceBasedOnKeyValue`.
fn find_by_key(list: &[Value], key: &str, wanted: &Value) -> Result<Option<usize>, Failure> {
    for (i, item) in list.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(Failure::Internal(format!("value for key {i} is not a map")));
        };
        if m.get(key) == Some(wanted) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// `partitionMapsByPresentInList`: the items the patch names, and the others.
fn partition_maps(
    merged: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), Failure> {
    let (mut ours, mut server_only) = (Vec::new(), Vec::new());
    for item in merged {
        let Value::Object(m) = &item else {
            return Err(bad_arg_type("map[string]interface {}", &item));
        };
        let value = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
        if find_by_key(by, key, value)?.is_some() {
            ours.push(item);
        } else {
            server_only.push(item);
        }
    }
    Ok((ours, server_only))
}

/// The position of `item` in `list`, by merge key for maps.
fn index(list: &[Value], item: &Value, key: &str, kind: Items) -> Option<usize> {
    let of = |v: &Value| -> Option<Value> {
        match kind {
            Items::Maps => v.as_object().and_then(|m| m.get(key)).cloned(),
            Items::Scalars => Some(v.clone()),
        }
    };
    let wanted = of(item);
    list.iter().position(|v| of(v) == wanted)
}

/// `normalizeElementOrder`: the patch's items in the patch's order, the live-only items in
/// the live order, interleaved by the live order (`mergeSortedSlice`).
fn normalize(
    ours: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
    kind: Items,
) -> Result<Vec<Value>, Failure> {
    let right = sort_by(ours, patch_order, key, kind)?;
    let left = sort_by(server_only, server_order, key, kind)?;
    let less = |l: &Value, r: &Value| match (
        index(server_order, l, key, kind),
        index(server_order, r, key, kind),
    ) {
        (Some(li), Some(ri)) => li < ri,
        _ => false,
    };
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        if j < right.len() && (i >= left.len() || !less(&left[i], &right[j])) {
            out.push(right[j].clone());
            j += 1;
        } else {
            out.push(left[i].clone());
            i += 1;
        }
    }
    Ok(out)
}

/// `normalizeSliceOrder`: stable sort by position in `order`; `$patch: delete` items last.
fn sort_by(
    mut items: Vec<Value>,
    order: &[Value],
    key: &str,
    kind: Items,
) -> Result<Vec<Value>, Failure> {
    if kind == Items::Maps {
        for item in items.iter().chain(order) {
            let Value::Object(m) = item else {
                return Err(bad_arg_type("map[string]interface {}", item));
            };
            if !m.contains_key(key) {
                return Err(no_merge_key(m, key));
            }
        }
    }
    let deleted: Vec<Value> = if kind == Items::Maps {
        let (keep, deleted) = items
            .into_iter()
            .partition(|v| v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"));
        items = keep;
        deleted
    } else {
        Vec::new()
    };
    items.sort_by_key(|v| index(order, v, key, kind).unwrap_or(usize::MAX));
    items.extend(deleted);
    Ok(items)
}

/// `mergePatchIntoOriginal`: each `$setElementOrder/<field>` merges its field now and
/// orders the result by the list it gives.
pub(super) fn merge_ordered_lists(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Schema,
) -> Result<(), Failure> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive in directives {
        let Some(order) = patch.remove(&directive) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type("[]interface {}", &order));
        };
        let field = extract_key(&directive, SET_ELEMENT_ORDER)?;
        let as_list = |v: Option<&Value>| -> Result<Option<Vec<Value>>, Failure> {
            match v {
                None => Ok(None),
                Some(Value::Array(l)) => Ok(Some(l.clone())),
                Some(other) => Err(bad_arg_type("[]interface {}", other)),
            }
        };
        let live = as_list(original.get(&field))?;
        let patched = as_list(patch.get(&field))?;
        let (sub, meta) = schema.for_slice(&field)?;
        let (_, strategy) = retain_keys_strategy(&meta.strategies)?;
        check_order(patched.as_deref().unwrap_or_default(), &order, &meta.key)?;
        let merged = match (&live, &patched) {
            (Some(l), None) => l.clone(),
            (None, Some(p)) => match remove_directives(Value::Array(p.clone())) {
                Some(Value::Array(v)) => v,
                _ => continue,
            },
            (Some(l), Some(p)) => {
                merge_by_strategy(l.clone(), p.clone(), sub, &strategy, &meta.key, false)?
            }
            (None, None) => continue,
        };
        let (ours, server_only) = if meta.key.is_empty() {
            merged.into_iter().partition(|v| order.contains(v))
        } else {
            partition_maps(merged, &order, &meta.key)?
        };
        let live = live.unwrap_or_default();
        let kind = element_kind(&[&live, patched.as_deref().unwrap_or_default()])?;
        let both = normalize(ours, server_only, &order, &live, &meta.key, kind)?;
        original.insert(field.clone(), Value::Array(both));
        patch.remove(&field);
    }
    Ok(())
}

/// `validatePatchWithSetOrderList`: the patch's items appear in the order list, in its order.
fn check_order(patch: &[Value], order: &[Value], key: &str) -> Result<(), Failure> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = if key.is_empty() {
        patch.iter().collect()
    } else {
        let mut keep = Vec::new();
        for v in patch {
            let Value::Object(m) = v else {
                return Err(bad_arg_type("map[string]interface {}", v));
            };
            if m.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                keep.push(v);
            }
        }
        keep
    };
    let same = |l: &Value, r: &Value| -> Result<bool, Failure> {
        if key.is_empty() {
            return Ok(l == r);
        }
        let (Value::Object(lm), Value::Object(rm)) = (l, r) else {
            let odd = if l.is_object() { r } else { l };
            return Err(bad_arg_type("map[string]interface {}", odd));
        };
        let lv = lm.get(key).ok_or_else(|| no_merge_key(lm, key))?;
        let rv = rm.get(key).ok_or_else(|| no_merge_key(rm, key))?;
        Ok(lv == rv)
    };
    let (mut p, mut o) = (0, 0);
    while p < items.len() && o < order.len() {
        if items[p].get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        if same(items[p], &order[o])? {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() && o >= order.len() {
        return Err(Failure::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_fmt::v(&Value::Array(patch.to_vec())),
            go_fmt::v(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}
