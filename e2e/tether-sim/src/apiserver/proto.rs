//! Just enough of Kubernetes' protobuf encoding to read the access reviews kubectl
//! sends as `application/vnd.kubernetes.protobuf` (`kubectl auth can-i`).

use serde_json::{Value, json};

use super::status::{ApiError, ApiResult};

/// The protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The length-delimited fields of one message, in order (other wire types skipped).
pub fn fields(mut b: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let tag = varint(&mut b)?;
        match tag & 7 {
            0 => {
                varint(&mut b)?;
            }
            2 => {
                let len = usize::try_from(varint(&mut b)?).ok()?;
                if len > b.len() {
                    return None;
                }
                out.push((tag >> 3, &b[..len]));
                b = &b[len..];
            }
            1 => b = b.get(8..)?,
            5 => b = b.get(4..)?,
            _ => return None,
        }
    }
    Some(out)
}

fn string_fields(b: &[u8], names: &[(u64, &str)]) -> Option<Value> {
    let mut o = json!({});
    for (n, v) in fields(b)? {
        if let Some((_, name)) = names.iter().find(|(k, _)| *k == n) {
            let s = String::from_utf8(v.to_vec()).ok()?;
            if *name == "groups" {
                if o[name].is_null() {
                    o[name] = json!([]);
                }
                if let Some(a) = o[name].as_array_mut() {
                    a.push(json!(s));
                }
            } else {
                o[*name] = json!(s);
            }
        }
    }
    Some(o)
}

fn review(raw: &[u8], kind: &str) -> Option<Value> {
    let mut spec = json!({});
    let mut name = String::new();
    for (n, v) in fields(raw)? {
        match n {
            1 => {
                name = string_fields(v, &[(1, "name")])?["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            }
            2 => {
                for (sn, sv) in fields(v)? {
                    match sn {
                        1 => {
                            spec["resourceAttributes"] = string_fields(
                                sv,
                                &[
                                    (1, "namespace"),
                                    (2, "verb"),
                                    (3, "group"),
                                    (4, "version"),
                                    (5, "resource"),
                                    (6, "subresource"),
                                    (7, "name"),
                                ],
                            )?
                        }
                        2 => {
                            spec["nonResourceAttributes"] =
                                string_fields(sv, &[(1, "path"), (2, "verb")])?
                        }
                        3 => spec["user"] = json!(String::from_utf8(sv.to_vec()).ok()?),
                        4 => {
                            let g = String::from_utf8(sv.to_vec()).ok()?;
                            if spec["groups"].is_null() {
                                spec["groups"] = json!([]);
                            }
                            spec["groups"].as_array_mut()?.push(json!(g));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}),
    )
}

/// Decode a protobuf body of an access review into its JSON form.
pub fn decode_review(body: &[u8], kind: &str) -> ApiResult<Value> {
    let bad = || {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): invalid protobuf"
        ))
    };
    let envelope = body.strip_prefix(b"k8s\x00").ok_or_else(bad)?;
    let raw = fields(envelope)
        .ok_or_else(bad)?
        .into_iter()
        .find(|(n, _)| *n == 2)
        .map(|(_, v)| v)
        .ok_or_else(bad)?;
    if kind == "SelfSubjectRulesReview" {
        let spec = fields(raw).and_then(|f| f.into_iter().find(|(n, _)| *n == 2).map(|(_, v)| v));
        let spec = spec
            .map_or(Some(json!({})), |b| string_fields(b, &[(1, "namespace")]))
            .ok_or_else(bad)?;
        return Ok(
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": kind, "metadata": {}, "spec": spec}),
        );
    }
    review(raw, kind).ok_or_else(bad)
}
